"""CP5 AI penetration testing: red-team campaigns against a model or its endpoint.

A campaign (:mod:`cpmap.redteam.campaign`) runs the attacks a plan selects (fuzzing, white- and
black-box evasion, extraction, membership inference, inversion) against a :class:`Target`,
turns what succeeded into findings tagged with MITRE ATLAS and OWASP ML Top 10 entries, records
signed CP5 evidence and tracks every finding to remediation across campaigns.

Nothing is imported here: the store imports :mod:`cpmap.redteam.tables` on every command, and
that must not pay for numpy or torch. Import from the submodules.
"""

from __future__ import annotations
