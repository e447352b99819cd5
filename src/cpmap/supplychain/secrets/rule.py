"""What a secret rule is, and the two ways rules are written.

A *format* rule matches a provider's documented token shape (a fixed prefix, a length, a charset)
and needs no context. A *keyed* rule (:func:`keyed`) is for formats that are just random
characters (a Datadog key is 32 hex digits): the value must follow a name that mentions the
provider (``DATADOG_API_KEY=...``, ``"datadog_key": "..."``), matched on the lowercased text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cpmap.core.findings import Severity

# a token starts and ends where no character of its alphabet touches it
L = r"(?<![A-Za-z0-9])"
R = r"(?![A-Za-z0-9])"


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    keywords: tuple[str, ...]  # lowercase; the rule runs only on texts that contain one
    pattern: re.Pattern[str]
    severity: Severity = Severity.HIGH
    group: int = 1
    min_entropy: float = 0.0  # Shannon bits per char of the secret; 0: the format suffices
    config_only: bool = False  # only in .env / config files (generic assignments)
    at_match: bool = False  # report the line where the match starts (a key's BEGIN line)
    on_lower: bool = False  # the pattern is matched against the lowercased text
    validate: Callable[[str], bool] | None = None  # checksum or structure of the value
    provider: str = ""  # who issued it (the benchmark's recall table groups by it)
    allow_runs: bool = False  # the format itself has long runs of one character (AAAA...)
    not_after: re.Pattern[str] | None = None  # a character that may not precede the token


def rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


_LEAD = re.compile(r"\(\?<!(\[(?:\\.|[^\]\\])*\])\)")


def split_lead(pattern: str) -> tuple[str, re.Pattern[str] | None]:
    """Move a leading ``(?<![...])`` or ``\\b`` out of the regex into a check of one character.

    A regex that starts with a literal (``ghp_``) is searched for as fast as ``str.find``; one
    that starts with a lookbehind is tried at every position, 25-50 times slower here.
    """
    m = _LEAD.match(pattern)
    if m:
        return pattern[m.end():], re.compile(m.group(1))
    if pattern.startswith(r"\b"):
        return pattern[2:], re.compile(r"\w")
    return pattern, None


def fmt(rule_id: str, description: str, keywords: tuple[str, ...], pattern: str,
        provider: str, **kw: object) -> Rule:
    """A format rule: the token shape alone identifies it."""
    body, lead = split_lead(pattern)
    return Rule(rule_id, description, keywords, rx(body), provider=provider, not_after=lead,
                **kw)  # type: ignore[arg-type]


def keyed(rule_id: str, description: str, names: tuple[str, ...], value: str,
          provider: str, **kw: object) -> Rule:
    """A value of ``value``'s shape assigned to a name that contains one of ``names``.

    Matched on the lowercased text, so ``value`` is written with lowercase classes; the secret
    is read from the original text at the same offsets. The name may carry up to 30 more
    characters (``datadog_api_key``), quotes, and ``=``, ``:``, ``:=``, ``=>`` or ``?=``.
    """
    names_re = "|".join(re.escape(n) for n in names)
    pattern = (rf"(?:{names_re})[\w.\-]{{0,30}}[\"']?[ \t]*(?:=|:|:=|=>|\?=)[ \t]*[\"'`]?"
               rf"({value})(?![a-z0-9_\-+/=])")
    kw.setdefault("min_entropy", 3.0)
    return Rule(rule_id, description, names, rx(pattern), on_lower=True,
                provider=provider, **kw)  # type: ignore[arg-type]
