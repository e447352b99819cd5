from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.errors import InputError
from cpmap.privacy.dp import parse_query
from cpmap.privacy.entities import check_entities
from cpmap.privacy.redact import parse_overrides
from cpmap.privacy.synth_ops import parse_domains

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(TEXT, st.one_of(st.none(), TEXT), st.one_of(st.none(), TEXT))
def test_parse_query_only_raises_input_errors(q: str, bounds: str | None,
                                               cats: str | None) -> None:
    try:
        parsed = parse_query(q, bounds, cats)
    except InputError:
        return
    assert parsed.kind in ("count", "sum", "mean", "histogram")
    if parsed.bounds is not None:
        assert parsed.bounds[0] < parsed.bounds[1]


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, max_size=4), st.sampled_from(["column", "entity"]))
def test_parse_overrides_only_raises_input_errors(items: list[str], what: str) -> None:
    try:
        out = parse_overrides(items, what)
    except InputError:
        return
    assert len(out) <= len(items)


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, max_size=3), st.lists(TEXT, max_size=3))
def test_parse_domains_only_raises_input_errors(bounds: list[str], cats: list[str]) -> None:
    try:
        b, c = parse_domains(bounds, cats)
    except InputError:
        return
    assert all(lo < hi for lo, hi in b.values()) and all(c.values())


@given(st.lists(TEXT, max_size=3))
def test_check_entities(names: list[str]) -> None:
    from cpmap.privacy.entities import ALL_ENTITIES

    try:
        got = check_entities(names)
    except InputError:
        return
    assert got is None or got <= set(ALL_ENTITIES)
