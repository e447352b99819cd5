"""CP10's human review queue: flagged predictions decided by reviewers in a web page.

:mod:`accounts` (argon2id passwords, sessions), :mod:`queue` (items, row-locked claims,
decisions, agreement), :mod:`export` (the curated, signed dataset), :mod:`web` (the
server-rendered Starlette app behind ``cpmap review serve``).
"""
