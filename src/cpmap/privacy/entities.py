"""The PII entities cpmap detects: pattern, validator, score, severity, context and header hints.

Entity names are Presidio's (``EMAIL_ADDRESS``, ``US_SSN``, ``IBAN_CODE``...) so that findings
from our engine and from the optional Presidio backend read the same. A pattern proposes
candidates; the validator (checksum or numbering rule) decides; ``context`` names words that
must appear just before a candidate whose shape alone is too ambiguous (a bare 9-digit SSN, a
10-digit NHS number that also looks like a phone number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from cpmap.core.findings import Severity
from cpmap.privacy import validators as v


@dataclass(frozen=True)
class EntitySpec:
    entity: str
    pattern: re.Pattern[str]
    validator: v.Validator
    score: float
    severity: Severity
    context_words: str = ""  # regex alternation of words that must precede a match
    hint: str = ""  # a substring every match contains; lets the engine skip a whole text
    # A cheap pattern every match contains (an "@", a ":"); the full pattern then runs only in
    # a window of ``reach`` characters around each anchor hit instead of over the whole text.
    anchor: re.Pattern[str] | None = None
    reach: tuple[int, int] = (0, 0)

    @cached_property
    def context(self) -> re.Pattern[str] | None:
        """Context words followed by at most three words, right before the candidate."""
        if not self.context_words:
            return None
        return re.compile(rf"(?:{self.context_words})\W{{0,4}}(?:\w+\W{{1,3}}){{0,3}}$",
                          re.IGNORECASE)

    @cached_property
    def context_anywhere(self) -> re.Pattern[str] | None:
        """The context words alone: a text without any of them cannot hold this entity."""
        return re.compile(self.context_words, re.IGNORECASE) if self.context_words else None


def _p(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


_IBAN_RE = (r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?"
            r"(?![A-Za-z0-9])")
# Any case: IBANs are often typed in lower case; mod-97 and the country's BBAN structure
# keep it precise.
_IBAN_ANY_CASE = re.compile(_IBAN_RE.replace("[A-Z]", "[A-Za-z]").replace("[A-Z0-9]",
                                                                          "[A-Za-z0-9]"))

SPECS: tuple[EntitySpec, ...] = (
    EntitySpec("EMAIL_ADDRESS", _p(
        r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
        r"[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"), v.email, 1.0, Severity.MEDIUM, hint="@",
        anchor=_p("@"), reach=(72, 320)),
    EntitySpec("CREDIT_CARD", _p(
        r"\d(?<![\w-]\d)(?:\d{3}[ -]?(?:\d{4}[ -]?){2}\d{1,7}|\d{3}[ -]?\d{6}[ -]?\d{5})(?![\w-])"),
        v.credit_card, 1.0, Severity.HIGH),
    # Maestro's 12-digit numbers (the pattern above needs 13); the validator wants a Maestro IIN.
    EntitySpec("CREDIT_CARD", _p(r"[056](?<![\w-][056])\d{3}([ -]?)\d{4}\1\d{4}(?![\w-])"),
               v.credit_card, 1.0, Severity.HIGH),
    EntitySpec("US_SSN", _p(r"\d(?<![\w-]\d)\d{2}([- .])\d{2}\1\d{4}(?![\w-])"), v.us_ssn, 0.85,
               Severity.HIGH),
    EntitySpec("US_SSN", _p(r"\d(?<![\w-]\d)\d{8}(?![\w-])"), v.us_ssn, 0.6, Severity.HIGH,
               context_words=r"ssn|ssns|social security(?: number)?|ss#"),
    EntitySpec("US_ITIN", _p(r"9(?<![\w-]9)\d{2}([- ]?)(?:5\d|6[0-5]|7\d|8[0-8]|9[0-24-9])\1\d{4}"
                             r"(?![\w-])"), v.us_itin, 0.85, Severity.HIGH),
    # Anchored on the check digits (the engine skips to digits fast; a pattern opening with a
    # letter is tried at every letter of prose), then matched from the country code.
    EntitySpec("IBAN_CODE", _IBAN_ANY_CASE, v.iban, 1.0, Severity.HIGH,
               anchor=_p(r"\d\d(?<=(?<![A-Za-z0-9])[A-Za-z]{2}\d\d)"), reach=(2, 48)),
    EntitySpec("PHONE_NUMBER", _p(
        r"[+(\d](?<![\w+][+(\d])(?:(?<=\+)\d{1,3}[ .-]?(?:\(\d{2,4}\) ?|\d{2,4}[ .-])"
        r"|(?<=\()\d{2,4}\) ?|(?<=\d)\d{1,3}[ .-])\d{3,4}[ .-]?\d{3,4}"
        r"(?: ?(?:x|ext\.?) ?\d{1,6})?(?![\w-])"), v.phone, 0.75, Severity.MEDIUM),
    # International "+CC" numbers in any grouping (+33 1 23 45 67 89), validated per region.
    EntitySpec("PHONE_NUMBER", _p(r"\+(?<![\w+]\+)\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){3,7}(?![\w-])"),
               v.phone, 0.75, Severity.MEDIUM, hint="+", anchor=_p(r"\+\d"), reach=(0, 32)),
    EntitySpec("IP_ADDRESS", _p(
        r"\d(?<![\w.]\d)\d{0,2}\.(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){2}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
        r"(?!\w|\.\d)"), v.ip_address, 0.95, Severity.MEDIUM, hint="."),
    # Every IPv6 address holds "::" or three colon-separated groups: times (12:30:45) do not.
    EntitySpec("IP_ADDRESS", _p(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"),
               v.ip_address, 0.95, Severity.MEDIUM, hint=":",
               anchor=_p(r":(?::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:)"),
               reach=(40, 48)),
    EntitySpec("UK_NHS", _p(r"\d(?<![\w-]\d)\d{2}[ -]?\d{3}[ -]?\d{4}(?![\w-])"), v.uk_nhs, 1.0,
               Severity.HIGH, context_words=r"nhs|national health service"),
    EntitySpec("ES_NIF", _p(r"[\dXYZ](?<![\w-][\dXYZ])\d{7}-?[A-Z](?![\w-])"), v.es_nif, 1.0,
               Severity.HIGH),
    EntitySpec("IT_FISCAL_CODE", _p(r"[A-Z](?<!\w[A-Z])[A-Z]{5}\d{2}[A-EHLMPRST]\d{2}[A-Z]\d{3}"
                                    r"[A-Z](?!\w)"), v.it_fiscal_code, 1.0, Severity.HIGH),
    EntitySpec("IN_PAN", _p(r"[A-Z](?<!\w[A-Z])[A-Z]{2}[ABCFGHLJPT][A-Z]\d{4}[A-Z](?!\w)"),
               v.in_pan, 0.85, Severity.HIGH),
    EntitySpec("FI_PERSONAL_IDENTITY_CODE", _p(r"\d(?<!\w\d)\d{5}[-+A]\d{3}[0-9A-Y](?!\w)"),
               v.fi_hetu, 1.0, Severity.HIGH),
)

PATTERN_ENTITIES: tuple[str, ...] = tuple(dict.fromkeys(s.entity for s in SPECS))
# Entities found only by column names and value shapes in tables, or by an NER backend in text.
NER_ENTITIES = ("PERSON", "LOCATION", "DATE_TIME")
ALL_ENTITIES = PATTERN_ENTITIES + NER_ENTITIES

SEVERITY: dict[str, Severity] = {s.entity: s.severity for s in SPECS} | {
    "PERSON": Severity.MEDIUM, "LOCATION": Severity.LOW, "DATE_TIME": Severity.LOW}

# Direct identifiers: a value alone names a person. Policy forbids them unredacted.
DIRECT = frozenset(PATTERN_ENTITIES) | {"PERSON"}


def specs_for(entities: frozenset[str] | None) -> tuple[EntitySpec, ...]:
    return SPECS if entities is None else tuple(s for s in SPECS if s.entity in entities)


def check_entities(names: list[str] | None) -> frozenset[str] | None:
    """Validate a user's ``--entity`` list (Presidio names, case-insensitive)."""
    from cpmap.errors import InputError

    if not names:
        return None
    wanted = {n.strip().upper() for n in names if n.strip()}
    unknown = sorted(wanted - set(ALL_ENTITIES))
    if unknown:
        raise InputError(f"--entity {', '.join(unknown)}: unknown; known: "
                         f"{', '.join(ALL_ENTITIES)}")
    return frozenset(wanted)
