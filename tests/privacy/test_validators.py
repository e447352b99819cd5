"""Card and IBAN validators: Maestro's 12-digit numbers, IBANs in any case."""

from __future__ import annotations

import pytest
from stdnum import luhn

from cpmap.privacy import validators as v
from cpmap.privacy.detect import RegexAnalyzer

ANALYZER = RegexAnalyzer()


def _luhn_complete(prefix: str, length: int) -> str:
    body = (prefix + "3141592653589793238")[: length - 1]
    return body + luhn.calc_check_digit(body)


def _found(text: str) -> set[tuple[str, str]]:
    return {(m.entity, text[m.start:m.end]) for m in ANALYZER.analyze(text)}


@pytest.mark.parametrize("iin", ["5018", "5020", "5038", "5893", "6304", "6759", "6761", "6763"])
@pytest.mark.parametrize("length", [12, 13, 16, 19])
def test_maestro_numbers_of_every_length(iin: str, length: int) -> None:
    number = _luhn_complete(iin, length)
    assert v.credit_card(number)
    assert ("CREDIT_CARD", number) in _found(f"paid with {number} today")
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not v.credit_card(wrong)


def test_twelve_digits_need_a_maestro_prefix() -> None:
    assert not v.credit_card(_luhn_complete("4111", 12))  # Visa never issues 12 digits
    assert not v.credit_card(_luhn_complete("1234", 12))
    grouped = _luhn_complete("6759", 12)
    spaced = f"{grouped[:4]} {grouped[4:8]} {grouped[8:]}"
    assert ("CREDIT_CARD", spaced) in _found(f"card {spaced}.")
    assert not any(e == "CREDIT_CARD" for e, _ in _found(f"order {_luhn_complete('4111', 12)}"))


@pytest.mark.parametrize("iban", [
    "gb82 west 1234 5698 7654 32", "gb82west12345698765432", "de89370400440532013000",
    "De89 3704 0044 0532 0130 00", "fr1420041010050500013m02606",
])
def test_ibans_in_any_case(iban: str) -> None:
    assert v.iban(iban)
    assert ("IBAN_CODE", iban) in _found(f"pay to {iban} thanks")


def test_lowercase_iban_still_needs_mod97_and_its_structure() -> None:
    assert not v.iban("gb82 west 1234 5698 7654 33")
    assert not _found("gb82 west 1234 5698 7654 33 and de89370400440532013001")
    assert not _found("the words ab12 cdef ghij klmn are no iban")
