"""Framework tags: MITRE ATLAS technique ids, OWASP ML Top 10 (2023) and OWASP LLM Top 10 (2025).

A finding names the framework entries it maps to with these enums, never with free strings, so
that one entry has one spelling everywhere (SARIF, JSON, the report). :func:`parse_tag` reads
the spellings older evidence used ("OWASP-ML06:2023 ...", "ML06: ...") into the same member.
"""

from __future__ import annotations

import re
from enum import StrEnum

from cpmap.errors import InputError


class Atlas(StrEnum):
    """MITRE ATLAS techniques cpmap's findings map to (id; the name is in the comment)."""

    T0010 = "AML.T0010"  # ML Supply Chain Compromise
    T0010_003 = "AML.T0010.003"  # ML Supply Chain Compromise: Model
    T0011_000 = "AML.T0011.000"  # User Execution: Unsafe ML Artifacts
    T0015 = "AML.T0015"  # Evade ML Model
    T0020 = "AML.T0020"  # Poison Training Data
    T0024 = "AML.T0024"  # Exfiltration via AI Inference API
    T0024_000 = "AML.T0024.000"  # ... Infer Training Data Membership
    T0024_001 = "AML.T0024.001"  # ... Invert AI Model
    T0024_002 = "AML.T0024.002"  # ... Extract AI Model
    T0025 = "AML.T0025"  # Exfiltration via Cyber Means
    T0029 = "AML.T0029"  # Denial of AI Service
    T0031 = "AML.T0031"  # Erode AI Model Integrity
    T0034 = "AML.T0034"  # Cost Harvesting
    T0043 = "AML.T0043"  # Craft Adversarial Data
    T0043_000 = "AML.T0043.000"  # Craft Adversarial Data: White-Box Optimization
    T0043_001 = "AML.T0043.001"  # Craft Adversarial Data: Black-Box Optimization
    T0049 = "AML.T0049"  # Exploit Public-Facing Application
    T0055 = "AML.T0055"  # Unsecured Credentials
    T0057 = "AML.T0057"  # LLM Data Leakage


class OwaspML(StrEnum):
    """OWASP Machine Learning Security Top 10 (2023), by full name."""

    ML01 = "OWASP ML01:2023 Input Manipulation Attack"
    ML02 = "OWASP ML02:2023 Data Poisoning Attack"
    ML03 = "OWASP ML03:2023 Model Inversion Attack"
    ML04 = "OWASP ML04:2023 Membership Inference Attack"
    ML05 = "OWASP ML05:2023 Model Theft"
    ML06 = "OWASP ML06:2023 AI Supply Chain Attacks"
    ML07 = "OWASP ML07:2023 Transfer Learning Attack"
    ML08 = "OWASP ML08:2023 Model Skewing"
    ML09 = "OWASP ML09:2023 Output Integrity Attack"
    ML10 = "OWASP ML10:2023 Model Poisoning"


class OwaspLLM(StrEnum):
    """OWASP Top 10 for LLM Applications (2025), by full name."""

    LLM01 = "OWASP LLM01:2025 Prompt Injection"
    LLM02 = "OWASP LLM02:2025 Sensitive Information Disclosure"
    LLM03 = "OWASP LLM03:2025 Supply Chain"
    LLM04 = "OWASP LLM04:2025 Data and Model Poisoning"
    LLM05 = "OWASP LLM05:2025 Improper Output Handling"
    LLM06 = "OWASP LLM06:2025 Excessive Agency"
    LLM07 = "OWASP LLM07:2025 System Prompt Leakage"
    LLM08 = "OWASP LLM08:2025 Vector and Embedding Weaknesses"
    LLM09 = "OWASP LLM09:2025 Misinformation"
    LLM10 = "OWASP LLM10:2025 Unbounded Consumption"


Tag = Atlas | OwaspML | OwaspLLM

_ATLAS = {t.value: t for t in Atlas}
_OWASP = re.compile(r"^(?:OWASP[- ]?)?(ML|LLM)(\d\d)\b")


def parse_tag(text: str) -> Tag:
    """The enum member for a tag, accepting the legacy spellings; unknown tags are bad input."""
    text = str(text).strip()
    if text in _ATLAS:
        return _ATLAS[text]
    m = _OWASP.match(text)
    if m:
        family, number = m.groups()
        members = OwaspML if family == "ML" else OwaspLLM
        found = members.__members__.get(f"{family}{number}")
        if found is not None:
            return found
    raise InputError(f"tag {text[:60]!r}: not a known MITRE ATLAS technique or OWASP Top 10 entry")


def atlas_ids(tags: tuple[Tag, ...]) -> list[str]:
    return [t.value for t in tags if isinstance(t, Atlas)]


def owasp_names(tags: tuple[Tag, ...]) -> list[str]:
    return [t.value for t in tags if not isinstance(t, Atlas)]
