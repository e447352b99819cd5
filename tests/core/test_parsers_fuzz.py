"""Hostile input to the parsers: only cpmap errors come out, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpmap.core import dsse
from cpmap.core.checkpoint import open_note
from cpmap.core.keys import SigningKey
from cpmap.core.verify import verify_export
from cpmap.errors import Error

KEY = SigningKey.generate("fuzz")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)


@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_envelope_parser(data: bytes) -> None:
    try:
        dsse.parse_envelope(data, "fuzz")
    except Error:
        pass


@given(st.text(max_size=300))
def test_note_parser(note: str) -> None:
    try:
        open_note(note, KEY.public, "fuzz", "fuzz")
    except Error:
        pass


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(json_values.map(json.dumps) | st.text(max_size=60), max_size=6))
def test_export_verifier(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "fuzz.jsonl"
    header: dict[str, Any] = {"type": "header", "format": "cpmap-ledger-export/v1",
                              "origin": "fuzz"}
    path.write_text("\n".join([json.dumps(header), *lines]) + "\n")
    try:
        verify_export(path, KEY.public)
    except Error:
        pass
