"""What one lifecycle stage hands on to the next, as typed fields instead of guessed dict keys.

Each field is one thing a stage makes (a dataset version, a model version, a file) and names, in
its metadata, the stage that makes it. Reading a field that no stage has made yet raises
:class:`MissingArtifact` naming the artifact and its maker, so ``cpmap demo --only CP6`` says
"run CP4 too" instead of failing somewhere inside CP6. A stage that can do without an artifact
asks :meth:`Artifacts.has` first. Stages never mutate artifacts: they return what they made in
:attr:`StageResult.made <cpmap.lifecycle.runner.StageResult>` and the runner merges it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.models.store import StoredModel
    from cpmap.provenance.datasets import DatasetVersion


class MissingArtifact(InputError):
    """A stage needs an artifact that the stage making it did not produce (it did not run)."""

    def __init__(self, name: str, made_by: str, what: str) -> None:
        super().__init__(f"artifact {name} ({what}) is missing: the {made_by} stage makes it")
        self.name, self.made_by = name, made_by


class _Unset:
    """The value of a field no stage has made yet (distinct from any real value, None too)."""

    def __repr__(self) -> str:
        return "<not made>"


UNSET: Any = _Unset()


def _by(stage: str, what: str) -> Any:
    return field(default=UNSET, metadata={"made_by": stage, "what": what})


@dataclass(frozen=True, eq=False, repr=False)
class Artifacts:
    """Everything the demo's stages hand along, one typed field each (see the module doc)."""

    # CP1: the built-in data, written into the project and registered with provenance
    customers_csv: Path = _by("CP1", "the raw customer table with PII")
    digits_npz: Path = _by("CP1", "the digits images as .npz")
    digits: DatasetVersion = _by("CP1", "the registered, supplier-attested digits dataset")
    customers: DatasetVersion = _by("CP1", "the registered raw customer table")
    customers_clean_csv: Path = _by("CP1", "the customer table de-duplicated")
    customers_clean: DatasetVersion = _by("CP1", "the de-duplicated table, registered with "
                                                 "lineage")
    # CP2: privacy-treated releases of the customer table (file and dataset ref name@version)
    customers_redacted_csv: Path = _by("CP2", "the table with direct identifiers pseudonymized")
    customers_redacted: str = _by("CP2", "the redacted table's dataset ref")
    customers_anonymized_csv: Path = _by("CP2", "the k-anonymized (Mondrian) table")
    customers_anonymized: str = _by("CP2", "the anonymized table's dataset ref")
    customers_synthetic_csv: Path = _by("CP2", "the synthetic copy of the training split")
    customers_synthetic: str = _by("CP2", "the synthetic copy's dataset ref")
    # CP3
    sbom: Path = _by("CP3", "the project's CycloneDX ML-BOM")
    # CP4: model-store versions
    digits_standard: StoredModel = _by("CP4", "the standard digits MLP")
    digits_pgd: StoredModel = _by("CP4", "the PGD-trained digits MLP")
    customers_model: StoredModel = _by("CP4", "the customer-table forest")
    # CP6
    registry_model: str = _by("CP6", "the registry model name, its candidate in staging")
    # CP7: what the gateway stage measured, for the report
    gateway_check: Mapping[str, Any] = _by("CP7", "the gateway check of the staged version")
    gateway_counts: Mapping[str, Any] = _by("CP7", "production traffic: answers by kind, "
                                                   "requests and refusals")

    if not TYPE_CHECKING:  # hidden from mypy, which then still checks every field name
        def __getattribute__(self, name: str) -> Any:
            value = object.__getattribute__(self, name)
            if value is UNSET:
                meta = type(self).__dataclass_fields__[name].metadata
                raise MissingArtifact(name, meta["made_by"], meta["what"])
            return value

    def has(self, name: str) -> bool:
        """Whether ``name`` was made (a stage that can do without it asks this first)."""
        if name not in _NAMES:
            raise AttributeError(f"{name}: not an artifact (known: {', '.join(sorted(_NAMES))})")
        return object.__getattribute__(self, name) is not UNSET

    def made(self) -> dict[str, Any]:
        """The fields that are set, by name."""
        return {n: object.__getattribute__(self, n) for n in _NAMES if self.has(n)}

    def merge(self, later: Artifacts) -> Artifacts:
        """These artifacts with what ``later`` made added (``later`` wins where both made one)."""
        return Artifacts(**{**self.made(), **later.made()})

    def __repr__(self) -> str:
        return f"Artifacts({', '.join(f'{k}={v!r}' for k, v in self.made().items())})"


_NAMES = tuple(f.name for f in fields(Artifacts))

