"""The hostile inputs of issue 18, one builder per case: each writes its files and returns argv.

A builder gets the case directory ``d`` (the workspace is ``d/ws``) and returns the command
line; ``{W}`` in it is replaced by the workspace path. What a case must print is in CASES.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

PASSWORD = "hunter2-s3cret"  # noqa: S105 - a planted credential that must never be echoed
PII = "987-65-4321"  # a planted SSN that must never be echoed
Builder = Callable[[Path], list[str]]


def _toml(d: Path, extra: bytes, replace: bool = False) -> None:
    path = d / "ws" / ".cpmap" / "cpmap.toml"
    path.write_bytes(extra if replace else path.read_bytes() + b"\n" + extra)


def _set_key(d: Path, section: str, line: str) -> None:
    path = d / "ws" / ".cpmap" / "cpmap.toml"
    text = path.read_text().replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)
    path.write_text(text)


def _sub_line(d: Path, prefix: str, line: str) -> None:
    path = d / "ws" / ".cpmap" / "cpmap.toml"
    lines = [line if x.startswith(prefix) else x for x in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")


def _registered(d: Path) -> str:
    """A registered model version (its ledger entry is part of the case's starting state)."""
    from cpmap.core.workspace import open_workspace
    from cpmap.registry.versions import register

    ws = open_workspace(d / "ws")
    try:
        return register(ws, "m", _model(d)).version.ref
    finally:
        ws.close()


def _csv(d: Path, name: str = "ok.csv") -> Path:
    (d / name).write_text("name,age\nann,3\nbob,4\n")
    return d / name


def _deep(d: Path) -> Path:
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    return d / "deep.json"


def _reqs(d: Path) -> Path:
    (d / "requirements.txt").write_text("requests==2.0.0\n")
    return d / "requirements.txt"


def _zip(d: Path, members: dict[str, bytes], name: str = "osv.zip") -> Path:
    with zipfile.ZipFile(d / name, "w", zipfile.ZIP_DEFLATED) as z:
        for member, data in members.items():
            z.writestr(member, data)
    return d / name


def _deps(d: Path, db: Path) -> list[str]:
    return ["scan", "deps", "-r", str(_reqs(d)), "--osv-db", str(db), "-w", "{W}"]


def _huge_npz(d: Path) -> Path:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                   "shape": (1 << 40, 4096)})  # 32 PiB
    y = io.BytesIO()
    np.save(y, np.zeros(2, dtype=np.int64))
    with zipfile.ZipFile(d / "huge.npz", "w") as z:
        z.writestr("x.npy", header.getvalue() + b"\0" * 64)
        z.writestr("y.npy", y.getvalue())
    return d / "huge.npz"


def _model(d: Path) -> Path:
    (d / "m.safetensors").write_bytes(b"weights")
    return d / "m.safetensors"


def _bomb(d: Path) -> Path:
    return _zip(d, {"PYSEC-1.json": b'{"id": "PYSEC-1", "affected": [' + b" " * (15 << 20)
                    + b"]}"})


CASES: list[tuple[str, Builder, str]] = [
    ("toml-not-utf8", lambda d: (_toml(d, b"\xff\xfe[gate]\n", replace=True),
                                 ["privacy", "scan", str(_csv(d)), "-w", "{W}"])[1],
     "not UTF-8"),
    ("toml-3000-deep", lambda d: (_toml(d, b"a = " + b"[" * 3000 + b"]" * 3000, replace=True),
                                  ["privacy", "scan", str(_csv(d)), "-w", "{W}"])[1],
     "nested too deeply"),
    ("gate-not-a-table", lambda d: (ref := _registered(d),
                                    _toml(d, b'gate = 5\n[workspace]\nname = "h"\n', True),
                                    ["gate", ref, "-w", "{W}"])[2], "[gate] must be a table"),
    ("privacy-unknown-key", lambda d: (_set_key(d, "privacy", "k_anonymty = 10"),
                                       ["privacy", "scan", str(_csv(d)), "-w", "{W}"])[1],
     "k_anonymty: unknown setting"),
    ("trusted-not-strings", lambda d: (_sub_line(d, "trusted = ", "trusted = [1, 2]"),
                                       ["data", "register", "t", str(_csv(d)), "-w", "{W}"])[1],
     "list of pattern strings"),
    ("latin1-csv-fingerprint", lambda d: ((d / "l.csv").write_bytes(b"name\nJos\xe9\n"),
                                          ["data", "fingerprint", str(d / "l.csv")])[1],
     "not UTF-8 text"),
    ("deep-json-attestation", lambda d: ["data", "verify", str(_csv(d)), "-a", str(_deep(d)),
                                         "-w", "{W}"], "nested too deeply"),
    ("deep-json-ledger-export", lambda d: ["ledger", "verify", "--file", str(_deep(d)),
                                           "--public-key",
                                           str(d / "ws/.cpmap/keys/signing.pub"), "-w", "{W}"],
     "not a cpmap ledger export"),
    ("not-a-ledger-export", lambda d: ["ledger", "verify", "--file", str(_csv(d)),
                                       "--public-key", str(d / "ws/.cpmap/keys/signing.pub"),
                                       "-w", "{W}"], "not a cpmap ledger export"),
    ("deep-training-record", lambda d: ["registry", "register", "m", "-m", str(_model(d)),
                                        "--training-record", str(_deep(d)), "--no-scan",
                                        "-w", "{W}"], "training record"),
    ("huge-version-number", lambda d: ["registry", "show", "m@99999999999999999999", "-w",
                                       "{W}"], "no such version"),
    ("npz-claims-32-PiB", lambda d: ["train", "--data", str(_huge_npz(d)), "--name", "h",
                                     "--arch", "logreg", "--epochs", "1", "-w", "{W}"],
     "claims"),
    ("demo-workspace-is-a-file", lambda d: ["demo", "-w", str(_csv(d))], "is a file"),
    ("demo-only-unknown-control", lambda d: ["demo", "--only", "CP99", "-w", str(d / "demo")],
     "CP99"),
    ("gate-output-is-a-directory", lambda d: ((d / "outdir").mkdir(),
                                              ["gate", "m@1", "-o", str(d / "outdir"),
                                               "-w", "{W}"])[1], "is a directory"),
    ("fingerprint-negative-workers", lambda d: ["data", "fingerprint", str(_csv(d)),
                                                "--workers", "-3"], "--workers -3"),
    ("train-negative-hidden", lambda d: ["train", "--data", "builtin:digits", "--name", "n",
                                         "--arch", "mlp", "--hidden", "-4", "-w", "{W}"],
     "--hidden -4"),
    ("robustness-bad-attacks", lambda d: ["robustness", "evaluate", "--model",
                                          "http://127.0.0.1:9/x", "--data", "builtin:digits",
                                          "--attacks", "zzz", "-w", "{W}"], "unknown attack"),
    ("robustness-endpoint-password", lambda d: ["robustness", "evaluate", "--model",
                                                f"http://user:{PASSWORD}@127.0.0.1:9/x?token="
                                                f"{PASSWORD}", "--data", "builtin:digits",
                                                "-w", "{W}"], "unreachable"),
    ("redteam-unreachable-endpoint", lambda d: ["redteam", "run", "--model", "x", "--endpoint",
                                                "http://127.0.0.1:9/v2/models/x/infer",
                                                "--data", "builtin:digits", "-w", "{W}"],
     "unreachable"),
    ("redact-broken-csv-no-key", lambda d: ((d / "b.csv").write_text(
        "name,ssn\nann,1\n" + "bob,2\n" * 20 + f"eve,{PII},x,y\n"),
        ["privacy", "redact", str(d / "b.csv"), "-o", str(d / "r.csv"), "-w", "{W}"])[1],
     "Expected 2 fields in line 23"),
    ("csv-parse-error-no-row", lambda d: ((d / "p.csv").write_text(
        f"name,ssn\nann,1\nbob,{PII},EXTRA,alice@example.com\n"),
        ["data", "register", "p", str(d / "p.csv"), "-w", "{W}"])[1], "got 4"),
    ("baseline-not-a-baseline", lambda d: ((d / "m.npz").write_bytes(b"PK\x03\x04model"),
                                           (d / "src").mkdir(),
                                           ["scan", "secrets", str(d / "src"), "--baseline",
                                            str(d / "m.npz"), "--update-baseline"])[2],
     "not a cpmap secrets baseline"),
    ("osv-empty-zip", lambda d: _deps(d, _zip(d, {})), "no valid OSV record"),
    ("osv-nested-zip", lambda d: _deps(d, _zip(d, {"inner.zip": _zip(d, {
        "PYSEC-1.json": b'{"id": "PYSEC-1", "affected": []}'}, "inner.zip").read_bytes()})),
     "no valid OSV record"),
    ("osv-path-traversal", lambda d: _deps(d, _zip(d, {"../../evil.json": b'{"id": "X"}'})),
     "path traversal"),
    ("osv-wrong-shape", lambda d: _deps(d, _zip(d, {"A.json": b'{"id": 5, "affected": "x"}'})),
     "no valid OSV record"),
    ("osv-folder-of-invalid", lambda d: ((d / "db").mkdir(), [
        (d / "db" / f"R{i}.json").write_text('{"not": "osv"}') for i in range(3)],
        _deps(d, d / "db"))[2], "no valid OSV record"),
    ("osv-matched-record-wrong-shape", lambda d: _deps(d, _zip(d, {
        "A.json": b'{"id": "A", "affected": {"package": {"name": "requests"}}}'})),
     "'affected' is not a list"),
    ("osv-zip-bomb", lambda d: _deps(d, _bomb(d)), "zip bomb"),
    ("sbom-components-not-a-list", lambda d: ((d / "bom.json").write_text(json.dumps(
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": {"a": 1}})),
        ["scan", "deps", "--sbom", str(d / "bom.json"), "--osv-db", str(_zip(d, {
            "A.json": b'{"id": "A", "affected": []}'})), "-w", "{W}"])[1], "not a list"),
    ("store-url-password-parameter", lambda d: (_sub_line(
        d, "url = ", f'url = "postgresql+psycopg://cpmap@127.0.0.1:1/x?password={PASSWORD}"'),
        ["ledger", "verify", "-w", "{W}"])[1], "password=***"),
    ("csv-200k-columns", lambda d: ((d / "wide.csv").write_text(
        ",".join(f"c{i}" for i in range(200_000)) + "\n" + "1," * 199_999 + "1\n"),
        ["privacy", "scan", str(d / "wide.csv"), "-w", "{W}"])[1], "200000 columns"),
]
