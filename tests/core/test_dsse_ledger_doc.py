"""docs/ledger.md's worked example holds: the bytes a leaf hashes, and the auditor's code."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpmap.core import dsse, merkle
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.keys import SigningKey
from cpmap.core.ledger import Ledger, export_ledger

DOC = (Path(__file__).parents[2] / "docs" / "ledger.md").read_text()


def block(name: str) -> str:
    """The fenced code block right after ``<!-- example:NAME -->`` in the doc."""
    m = re.search(rf"<!-- example:{name} -->\n```[a-z]*\n(.*?)\n```", DOC, re.S)
    assert m is not None, f"docs/ledger.md has no example:{name} block"
    return m.group(1)


def auditor() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(block("auditor"), "docs/ledger.md", "exec"), namespace)  # noqa: S102
    return namespace


def test_worked_example_is_what_cpmap_writes() -> None:
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    assert key.public.pem().decode().splitlines()[1] in DOC
    envelope = dsse.sign(block("statement").encode(), key)
    canonical = envelope.to_json()
    assert canonical.decode() == block("envelope")
    assert f"({len(canonical)} bytes)" in DOC
    assert merkle.leaf_hash(canonical).hex() == block("leaf")
    assert hashlib.sha256(b"\x00" + block("envelope").encode()).hexdigest() == block("leaf")


def test_auditor_code_agrees_on_the_example() -> None:
    code = auditor()
    envelope = json.loads(block("envelope"))
    assert code["leaf_hash"](envelope).hex() == block("leaf")
    noisy = {**envelope, "extra": 1}  # members outside the three are not part of the leaf
    assert code["leaf_hash"](noisy).hex() == block("leaf")
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(11)]
    assert code["root"](leaves) == merkle.root_of(leaves)
    assert code["root"]([]) == merkle.EMPTY_ROOT


def test_auditor_code_recomputes_a_real_export(ws: Any, tmp_path: Path) -> None:
    for i in range(5):
        record(Evidence("CP1", "doc", [Subject(f"s{i}", hashlib.sha256(bytes([i])).hexdigest())],
                        Verdict.PASS, metrics={"i": i, "name": "Zoë"}), ws)
    out = tmp_path / "audit.jsonl"
    export_ledger(Ledger(ws), out)
    lines = out.read_text().splitlines()
    recomputed, signed = auditor()["export_root"](lines)
    assert recomputed == signed
    stored = Ledger(ws).leaf_hashes()
    assert [auditor()["leaf_hash"](json.loads(x)["envelope"]) for x in lines[1:]] == stored
