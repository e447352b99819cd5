"""CP1 stage: register, fingerprint, sign, verify, trace lineage, catch tampering.

Makes the built-in data (the customer table and the digits images) in the project, registers
both (digits from a supplier with a signed attestation checked against its trusted key) and a
de-duplicated customer table with lineage, and hands all of them on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.keys import SigningKey
from cpmap.lifecycle.artifacts import Artifacts
from cpmap.lifecycle.context import Context, StageResult
from cpmap.lifecycle.data import write_builtin_data
from cpmap.provenance import manifest, trust
from cpmap.provenance.datasets import DatasetVersion, open_dataset, register_dataset
from cpmap.provenance.fingerprint import fingerprint
from cpmap.provenance.lineage import lineage_of, transform
from cpmap.provenance.predicates import IntegrityDrill


def _supplier_key(workdir: Path) -> tuple[SigningKey, Path]:
    key = SigningKey.generate("acme-data")
    priv, pub = workdir / "supplier" / "acme.pem", workdir / "supplier" / "acme.pub"
    key.save(priv, pub)
    return key, pub


def tamper_drill(ctx: Context, source: Path, attestation: Path) -> list[str]:
    """Copy a signed dataset, flip one byte, and record that verification catches it."""
    copy = ctx.workdir / "tampered" / source.name
    if source.is_dir():
        shutil.copytree(source, copy)
    else:
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
    victim = copy if copy.is_file() else sorted(p for p in copy.rglob("*") if p.is_file())[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    result = manifest.verify(copy, manifest.read_attestation(attestation),
                             trust.trusted_public_keys(ctx.ws))
    caught = not result.ok
    fp = fingerprint(copy)
    drill = IntegrityDrill(
        verdict=Verdict.PASS if caught else Verdict.FAIL, tamper_detected=caught,
        modified=len(result.diff.modified),
        findings=(Finding("CP1-MODIFIED", Severity.INFO,
                          f"drill: one flipped byte in {victim.name} detected",
                          Location(str(victim)), "none: this is the expected outcome"),),
        highlights=(f"flipped one byte of {victim.name}: verification "
                    f"{'caught it' if caught else 'MISSED it'}",))
    record(Evidence.of(drill, [Subject(f"tampered:{source.name}", fp.digest)]), ctx.ws)
    return [f"tampered copy: {'caught' if caught else 'MISSED'} "
            f"(modified: {', '.join(result.diff.modified) or 'none'})"]


def _dedupe(ctx: Context, raw: DatasetVersion) -> tuple[Path, DatasetVersion]:
    """A recorded transformation: the customer table de-duplicated by customer_id."""
    import pandas as pd

    with transform("dedupe", inputs=[raw.ref], ws=ctx.ws, params={"key": "customer_id"}) as t:
        clean = ctx.workdir / "data" / "customers-clean.csv"
        pd.read_csv(t.inputs[0].path).drop_duplicates("customer_id").to_csv(clean, index=False)
        return clean, t.output(clean, name="customers-clean")


def run(ctx: Context) -> StageResult:
    ws, wd = ctx.ws, ctx.workdir
    customers, digits = write_builtin_data(wd)

    # A supplier ships digits with a signed manifest; we trust its key and check it on register.
    key, pub = _supplier_key(wd)
    trust.add_key(ws, "acme-data", pub)
    att = wd / "supplier" / "digits.att.json"
    att.write_text(manifest.dump(manifest.sign(digits.parent, key)))
    dg = register_dataset(ws, "digits", digits.parent, source="builtin:digits",
                          supplier="acme-data", attestation=att, license="BSD-3-Clause")
    cu = register_dataset(ws, "customers", customers, source="builtin:customers",
                          license="CC0-1.0")

    # Our own signed manifest of the customer table, verified.
    own = wd / "customers.att.json"
    own.write_text(manifest.dump(manifest.sign(customers, ws.signing_key)))
    ok = manifest.verify(customers, manifest.read_attestation(own),
                         trust.trusted_public_keys(ws)).ok

    clean, cc = _dedupe(ctx, cu)
    open_dataset(cc.ref, ws, principal="demo-trainer", purpose="training")
    chain = lineage_of(ws, cc.ref)
    lines = [
        f"registered {dg.ref} (supplier acme-data, attestation verified) and {cu.ref}",
        f"signed and verified customers.csv: {'OK' if ok else 'FAILED'}",
        f"lineage: {cc.ref} <- dedupe <- "
        f"{', '.join(p.dataset.ref for p in chain.parents if p.dataset)}",
    ]
    lines += tamper_drill(ctx, digits.parent, att)
    made = Artifacts(customers_csv=customers, digits_npz=digits, digits=dg, customers=cu,
                     customers_clean_csv=clean, customers_clean=cc)
    return StageResult("CP1", ok, tuple(lines), made=made)
