"""``name@version`` / ``name@alias`` references: parsed once, refused with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpmap.core.names import NAME_RE
from cpmap.core.refs import MAX_VERSION, Ref
from cpmap.errors import InputError


@pytest.mark.parametrize(("text", "expected"), [
    ("clf", Ref("clf")), ("clf@3", Ref("clf", version=3)), ("clf@latest", Ref("clf")),
    ("clf@production", Ref("clf", alias="production")), (f"d@{MAX_VERSION}", Ref("d", MAX_VERSION)),
])
def test_parses_names_versions_and_aliases(text: str, expected: Ref) -> None:
    assert Ref.parse(text, aliases=True) == expected
    assert Ref.parse(str(expected), aliases=True) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("d@99999999999999999999", "no such version"), ("d@0", "no such version"),
    (f"d@{MAX_VERSION + 1}", "no such version"), ("d@" + "9" * 5000, "no such version"),
    ("d@-1", "version must be a number"), ("d@x", "version must be a number"),
    ("d@²", "version must be a number"), ("../d@1", "dataset name"), ("", "dataset name"),
])
def test_bad_versions_are_bad_input_naming_the_input(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as e:
        Ref.parse(text, "dataset")
    assert "\n" not in e.value.message and e.value.message.startswith("dataset")


@pytest.mark.parametrize("text", ["clf@-1", "clf@Prod", "clf@²", "clf@a b"])
def test_aliases_that_cannot_exist_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="no such version or alias"):
        Ref.parse(text, aliases=True)


@given(st.text(max_size=60), st.booleans())
def test_accepts_or_refuses_cleanly(text: str, aliases: bool) -> None:
    try:
        ref = Ref.parse(text, "model", aliases=aliases)
    except InputError as e:
        assert e.message.startswith("model")
        return
    assert NAME_RE.fullmatch(ref.name) and text.startswith(ref.name)
    assert Ref.parse(str(ref), "model", aliases=aliases) == ref
    assert ref.version is None or 1 <= ref.version <= MAX_VERSION


@pytest.mark.parametrize("args", [
    ("models", "show", "m@99999999999999999999"), ("models", "show", "m@-1"),
    ("registry", "show", "clf@x y"), ("data", "lineage", "d@x"),
])
def test_cli_refuses_bad_refs_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          args: tuple[str, ...]) -> None:
    from cpmap.cli import main
    from cpmap.core.workspace import init

    init(tmp_path)
    with pytest.raises(SystemExit) as e:
        main([*args, "--workspace", str(tmp_path / ".cpmap")])
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert err.startswith("cpmap: error: ") and args[-1] in err and "Traceback" not in err
