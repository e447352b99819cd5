from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.privacy import validators as v
from cpmap.privacy.detect import Match, RegexAnalyzer, redacted_snippet, resolve
from cpmap.privacy.entities import check_entities
from cpmap.privacy.scan import iter_text

from .conftest import ASSETS

ANALYZER = RegexAnalyzer()


def _found(text: str) -> set[tuple[str, str]]:
    return {(m.entity, text[m.start:m.end]) for m in ANALYZER.analyze(text)}


def test_positive_asset_finds_every_entity() -> None:
    text = (ASSETS / "pii_positive.txt").read_text()
    found = _found(text)
    assert found >= {
        ("EMAIL_ADDRESS", "jane.roe@example.org"), ("PHONE_NUMBER", "(212) 555-0143"),
        ("PHONE_NUMBER", "+44 20 7946 0958"), ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("US_SSN", "219-09-9998"), ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
        ("IP_ADDRESS", "203.0.113.7"), ("IP_ADDRESS", "2001:db8::8a2e:370:7334"),
    }


def test_negative_asset_finds_nothing() -> None:
    # Luhn-invalid card, SSNs with area 000/666/9xx or serial 0000, times, versions, ids.
    assert _found((ASSETS / "pii_negative.txt").read_text()) == set()


@pytest.mark.parametrize(("func", "good", "bad"), [
    (v.credit_card, "4111-1111-1111-1111", "4111-1111-1111-1112"),
    (v.credit_card, "378282246310005", "1234567812345670"),  # second: no issuer prefix
    (v.us_ssn, "536-22-5645", "666-22-5645"),
    (v.us_ssn, "536-22-5645", "536-00-5645"),
    (v.iban, "DE89370400440532013000", "DE89370400440532013001"),
    (v.ip_address, "10.0.0.1", "10.0.0.256"),
    (v.ip_address, "fe80::1ff:fe23:4567:890a", "::"),
    (v.phone, "(212) 555-0143", "(123) 055-0143"),
    (v.email, "a.b@example.co.uk", "a..b@example"),
])
def test_validators(func: v.Validator, good: str, bad: str) -> None:
    assert func(good)
    assert not func(bad)


def test_context_required_entities() -> None:
    assert ("US_SSN", "536225645") in _found("SSN: 536225645")
    assert not any(e == "US_SSN" for e, _ in _found("order 536225645"))
    assert ("UK_NHS", "943 476 5919") in _found("NHS number 943 476 5919")


def test_national_ids() -> None:
    found = _found("NIF 12345678Z, PAN ABCPE1234F, hetu 131052-308T")
    assert {e for e, _ in found} == {"ES_NIF", "IN_PAN", "FI_PERSONAL_IDENTITY_CODE"}


def test_entity_filter_and_unknown_entity() -> None:
    only = RegexAnalyzer(check_entities(["email_address"]))
    text = "x@example.com 4111 1111 1111 1111"
    assert [m.entity for m in only.analyze(text)] == ["EMAIL_ADDRESS"]
    with pytest.raises(Exception, match="unknown"):
        check_entities(["NOT_AN_ENTITY"])


def test_resolve_keeps_best_of_overlaps() -> None:
    ms = [Match("A", 0, 10, 0.5), Match("B", 5, 12, 0.9), Match("C", 12, 14, 0.1)]
    assert [m.entity for m in resolve(ms)] == ["B", "C"]


def test_snippet_never_holds_the_value() -> None:
    text = "call (212) 555-0143 or mail jane@example.org now"
    ms = ANALYZER.analyze(text)
    for m in ms:
        snip = redacted_snippet(text, m, ms)
        assert "555-0143" not in snip and "jane@" not in snip
        assert f"<{m.entity}>" in snip


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 -.:@()+abcXYZ\n")), max_size=300))
def test_spans_are_sorted_disjoint_and_in_bounds(text: str) -> None:
    ms = ANALYZER.analyze(text)
    for a, b in zip(ms, ms[1:], strict=False):
        assert a.end <= b.start
    assert all(0 <= m.start < m.end <= len(text) for m in ms)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from([
    "jane@example.org", "(212) 555-0143", "4111 1111 1111 1111", "219-09-9998", "lorem",
    "ipsum dolor", "203.0.113.7", "\n", "12:30", "GB82WEST12345698765432"]), max_size=60),
    st.integers(min_value=1, max_value=6))
def test_streaming_matches_whole_text(tmp_path_factory: pytest.TempPathFactory,
                                      parts: list[str], chunk_kb: int) -> None:
    text = " ".join(parts)
    path: Path = tmp_path_factory.mktemp("s") / "t.txt"
    path.write_text(text)
    whole = [(m.entity, m.start, m.end) for m in ANALYZER.analyze(text)]
    streamed = [(h.entity, h.start, h.end) for h in iter_text(path, ANALYZER, chunk=chunk_kb * 64)]
    assert streamed == whole


def test_anchor_window_does_not_cut_a_later_match() -> None:
    # The window opened by the time's ":" ends inside the address; it must still be found.
    text = "at 23:59:01. Dinner city child and. 2781:847a:9650:33ae:acef:1858:d5f6:af5d. end"
    assert ("IP_ADDRESS", "2781:847a:9650:33ae:acef:1858:d5f6:af5d") in _found(text)


def test_international_phone_groupings() -> None:
    assert ("PHONE_NUMBER", "+33 1 23 45 67 89") in _found("call +33 1 23 45 67 89 today")
