"""Property tests for the requirements parser: never crashes, pins round-trip."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.errors import InputError
from cpmap.supplychain.reqsource import parse_requirements

names = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}([-_.][A-Za-z0-9]{1,4})?", fullmatch=True)
versions = st.from_regex(r"[0-9]{1,2}(\.[0-9]{1,2}){0,2}((a|b|rc)[0-9]|\.post[0-9]|\.dev[0-9])?",
                         fullmatch=True)
lines = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


def _parse(text: str) -> object:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requirements.txt"
        path.write_text(text, encoding="utf-8")
        return parse_requirements(path)


@settings(max_examples=150, deadline=None)
@given(st.lists(lines, max_size=8))
def test_arbitrary_lines_never_crash(items: list[str]) -> None:
    try:
        _parse("\n".join(items))
    except InputError:
        pass  # e.g. an include of a missing file: one clear error


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, versions), min_size=1, max_size=6, unique_by=lambda t: t[0]))
def test_pins_round_trip(pins: list[tuple[str, str]]) -> None:
    text = "".join(f"{n}=={v}  # pinned\n{n}-extra>={v}\n" for n, v in pins)
    inputs = _parse(text)
    assert {(p.name, p.version) for p in inputs.pins} == set(pins)  # type: ignore[attr-defined]
    assert len(inputs.skipped) == len(pins)  # type: ignore[attr-defined]


def test_pyproject_and_lock_of_wrong_shape_or_encoding_are_input_errors(tmp_path: Path) -> None:
    import pytest

    from cpmap.supplychain.reqsource import parse_pylock, parse_pyproject

    bad = {
        "str.toml": '[project]\ndependencies = "requests==2.28.1"\n',
        "num.toml": '[project]\ndependencies = ["requests==2.28.1", 5]\n',
        "group.toml": '[project]\n[project.optional-dependencies]\nx = "a"\n',
        "groups.toml": '[project]\noptional-dependencies = ["a"]\n',
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match=name):
            parse_pyproject(tmp_path / name)
    (tmp_path / "bin.toml").write_bytes(b"\xaa\xff\x00garbage")
    for parse in (parse_pyproject, parse_pylock):
        with pytest.raises(InputError, match="bin.toml: invalid TOML"):
            parse(tmp_path / "bin.toml")


def test_unparsable_lines_are_skipped_with_a_one_line_reason(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("foo===\n!!bad\n")
    skipped = parse_requirements(tmp_path / "r.txt").skipped
    assert len(skipped) == 2
    assert all("\n" not in s.reason and s.reason.startswith("not a requirement") for s in skipped)
