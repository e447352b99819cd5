"""The artifacts contract: typed fields, a clear error for one not made, merge without mutation."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from cpmap.errors import InputError
from cpmap.lifecycle import STAGES, Artifacts, MissingArtifact


def test_reading_an_artifact_not_made_names_it_and_its_maker() -> None:
    with pytest.raises(MissingArtifact) as e:
        _ = Artifacts().digits_pgd
    assert e.value.name == "digits_pgd" and e.value.made_by == "CP4"
    assert e.value.message == ("artifact digits_pgd (the PGD-trained digits MLP) is missing: "
                               "the CP4 stage makes it")
    assert isinstance(e.value, InputError) and e.value.exit_code == 2


def test_every_field_is_documented_and_made_by_a_control_with_a_stage() -> None:
    controls = {control for control, _title, _target in STAGES}
    for f in fields(Artifacts):
        assert f.metadata["made_by"] in controls, f.name
        assert f.metadata["what"], f.name
        assert not Artifacts().has(f.name)


def test_has_and_made_see_only_what_was_set() -> None:
    a = Artifacts(sbom=Path("bom.cdx.json"), registry_model="digits")
    assert a.has("sbom") and not a.has("digits")
    assert a.made() == {"sbom": Path("bom.cdx.json"), "registry_model": "digits"}
    assert a.sbom == Path("bom.cdx.json")
    assert repr(a) == "Artifacts(sbom=PosixPath('bom.cdx.json'), registry_model='digits')"


def test_an_unknown_artifact_name_is_a_programming_error() -> None:
    with pytest.raises(AttributeError, match="digit: not an artifact"):
        Artifacts().has("digit")
    with pytest.raises(TypeError):
        Artifacts(digit="x")  # type: ignore[call-arg]


def test_merge_adds_what_a_later_stage_made_and_changes_neither() -> None:
    early = Artifacts(sbom=Path("a.json"), customers_csv=Path("c.csv"))
    later = Artifacts(sbom=Path("b.json"), registry_model="digits")
    merged = early.merge(later)
    assert merged.made() == {"customers_csv": Path("c.csv"), "sbom": Path("b.json"),
                             "registry_model": "digits"}
    assert early.sbom == Path("a.json") and not early.has("registry_model")
    with pytest.raises(AttributeError):
        early.sbom = Path("x")  # type: ignore[misc]


def test_the_docs_list_every_artifact_with_its_maker() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "lifecycle.md").read_text()
    for f in fields(Artifacts):
        assert f"| `{f.name}` | `{f.type}` | {f.metadata['made_by']} |" in doc, f.name
