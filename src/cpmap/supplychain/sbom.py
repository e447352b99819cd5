"""SBOM / ML-BOM: CycloneDX 1.6 JSON of Python packages, datasets and models.

Built with ``cyclonedx-python-lib`` and checked by its strict JSON-schema validator before it is
written, so a BOM cpmap hands out always validates. Packages carry a ``pkg:pypi`` purl, their
declared license and, where the installer recorded it (``direct_url.json``), the archive hash.
Datasets become ``data`` components and models ``machine-learning-model`` components, named by
their SHA-256 digests; a model depends on the datasets it was trained on.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap._version import __version__
from cpmap.errors import Error
from cpmap.supplychain.bomsources import BomDataset, BomModel

if TYPE_CHECKING:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component

    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace

_HASHES = {"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512", "md5": "MD5",
           "sha1": "SHA-1"}


class BomInvalid(Error):
    """The generated BOM does not validate against the CycloneDX 1.6 schema (a bug)."""

    exit_code = 3


@dataclass(frozen=True)
class BomResult:
    text: str
    packages: int
    datasets: int
    models: int


def _licenses(dist: Mapping[str, Any]) -> list[Any]:
    from cyclonedx.contrib.license.factories import LicenseFactory

    factory = LicenseFactory()
    if dist.get("license_expression"):
        return [factory.make_from_string(str(dist["license_expression"]))]
    names = [c.rsplit(" :: ", 1)[-1] for c in dist.get("classifiers") or []]
    names = names or [str(x) for x in dist.get("license") or [] if str(x).strip()]
    return [factory.make_with_name(n[:200]) for n in dict.fromkeys(names)]


def _hashes(dist: Mapping[str, Any]) -> list[Any]:
    from cyclonedx.model import HashAlgorithm, HashType

    try:
        info = json.loads(dist.get("direct_url") or "{}").get("archive_info") or {}
    except (json.JSONDecodeError, AttributeError):
        return []
    found = dict(info.get("hashes") or {})
    if "hash" in info and "=" in str(info["hash"]):
        algo, _, value = str(info["hash"]).partition("=")
        found.setdefault(algo, value)
    return [HashType(alg=HashAlgorithm(_HASHES[a]), content=v) for a, v in sorted(found.items())
            if a in _HASHES]


def package_component(dist: Mapping[str, Any]) -> Component:
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL
    from packaging.utils import canonicalize_name

    name, version = str(dist["name"]), str(dist["version"])
    purl = PackageURL(type="pypi", name=canonicalize_name(name), version=version or None)
    return Component(name=name, version=version or None, type=ComponentType.LIBRARY,
                     purl=purl, bom_ref=purl.to_string(), licenses=_licenses(dist),
                     hashes=_hashes(dist), description=str(dist.get("summary") or "")[:500]
                     or None)


def _sha256(digest: str) -> list[Any]:
    from cyclonedx.model import HashAlgorithm, HashType

    return [HashType(alg=HashAlgorithm.SHA_256, content=digest)]


def _props(items: Mapping[str, str]) -> list[Any]:
    from cyclonedx.model import Property

    return [Property(name=k, value=v[:2000]) for k, v in sorted(items.items())]


def dataset_component(ds: BomDataset) -> Component:
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalEntity

    props = {"cpmap:source": ds.source, "cpmap:digest": f"sha256:{ds.digest}"}
    props.update({f"cpmap:parent.{i}": f"sha256:{p}" for i, p in enumerate(ds.parents)})
    return Component(
        name=ds.name, version=str(ds.version), type=ComponentType.DATA,
        bom_ref=f"dataset:{ds.name}@{ds.version}", hashes=_sha256(ds.digest),
        licenses=[LicenseFactory().make_from_string(ds.license)] if ds.license else [],
        supplier=OrganizationalEntity(name=ds.supplier) if ds.supplier else None,
        properties=_props(props))


def model_component(model: BomModel) -> Component:
    from cyclonedx.model.component import Component, ComponentType

    props = {"cpmap:digest": f"sha256:{model.digest}", "cpmap:origin": model.origin,
             **model.properties}
    return Component(name=model.name, version=model.version,
                     type=ComponentType.MACHINE_LEARNING_MODEL,
                     bom_ref=f"model:{model.origin}:{model.ref}", hashes=_sha256(model.digest),
                     properties=_props(props))


def build(project: str, dists: Sequence[Mapping[str, Any]], datasets: Sequence[BomDataset],
          models: Sequence[BomModel]) -> Bom:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType

    bom = Bom()
    root = Component(name=project, type=ComponentType.APPLICATION, bom_ref=f"project:{project}")
    bom.metadata.component = root
    bom.metadata.tools.components.add(Component(name="cpmap", version=__version__,
                                                type=ComponentType.APPLICATION))
    packages = [package_component(d) for d in dists]
    data = {ds.digest: dataset_component(ds) for ds in datasets}
    for c in [*packages, *data.values()]:
        bom.components.add(c)
    bom.register_dependency(root, [*packages, *data.values()])
    for m in models:
        comp = model_component(m)
        bom.components.add(comp)
        bom.register_dependency(root, [comp])
        bom.register_dependency(comp, [data[d] for d in m.datasets if d in data])
    return bom


def _validator() -> Any:
    """cyclonedx-python-lib's strict 1.6 JSON validator, imported without rfc3987-syntax.

    jsonschema's format extra imports rfc3987-syntax, which compiles about 40 Lark grammars at
    import time (4 s idle, 15 s on a loaded machine). Only IRI formats use it and the BOMs built
    here carry no IRI fields, so it is kept out while jsonschema is first imported.
    """
    import sys

    blocked = "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules
    if blocked:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator
    finally:
        if blocked:
            del sys.modules["rfc3987_syntax"]
    return JsonStrictValidator(SchemaVersion.V1_6)


def render(bom: Bom) -> str:
    """CycloneDX 1.6 JSON, validated by cyclonedx-python-lib's strict JSON validator."""
    from cyclonedx.output.json import JsonV1Dot6

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library warns about dependency-less components
        text: str = JsonV1Dot6(bom).output_as_string(indent=2)
    error = _validator().validate_str(text)
    if error is not None:
        raise BomInvalid(f"generated BOM fails the CycloneDX 1.6 schema: {error}")
    return text


def generate(project: str, dists: Sequence[Mapping[str, Any]], datasets: Sequence[BomDataset],
             models: Sequence[BomModel]) -> BomResult:
    text = render(build(project, dists, datasets, models))
    cards = {f"model:{m.origin}:{m.ref}": m.card for m in models if m.card}
    if cards:  # the registry's model cards as CycloneDX modelCard, validated again
        from cpmap.registry.bom import embed

        text = embed(text, cards)
    return BomResult(text, len(dists), len(datasets), len(models))


def record_evidence(result: BomResult, ws: Workspace, label: str) -> Entry:
    """Store the BOM as a workspace object and sign a CP3 ``sbom`` entry naming it."""
    import hashlib

    from cpmap.core.evidence import Evidence, Subject, Verdict, record
    from cpmap.supplychain.predicates import Sbom

    data = result.text.encode()
    digest = hashlib.sha256(data).hexdigest()
    ws.put_object(data, digest)
    lines = [f"CycloneDX 1.6 BOM (schema-valid): {result.packages} packages, "
             f"{result.datasets} datasets, {result.models} models"]
    bom = Sbom(verdict=Verdict.PASS, highlights=tuple(lines), packages=result.packages,
               datasets=result.datasets, models=result.models, object=f"sha256/{digest}",
               format="CycloneDX 1.6")
    return record(Evidence.of(bom, [Subject(label, digest)]), ws)
