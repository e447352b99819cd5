"""Model references and card files from arbitrary input: accepted or one clear InputError."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.core.names import NAME_RE
from cpmap.errors import InputError
from cpmap.registry.card import load_card_file
from cpmap.registry.versions import parse_ref


@given(st.text(max_size=80))
def test_parse_ref_accepts_or_refuses_cleanly(ref: str) -> None:
    try:
        parsed = parse_ref(ref)
    except InputError as e:
        assert e.message.startswith("model")
        return
    assert NAME_RE.fullmatch(parsed.name) and ref.startswith(parsed.name)
    assert parsed.selector == (ref.partition("@")[2].lstrip("0") or "latest")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([".toml", ".json"]))
def test_card_file_parser_never_crashes(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"card{suffix}"
        path.write_bytes(data)
        try:
            card = load_card_file(path)
        except InputError as e:
            assert str(path) in e.message
            return
        assert isinstance(card, dict)
