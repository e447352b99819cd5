"""Model-file scanning: cpmap vs picklescan and modelscan in the same run.

1. Seconds to scan a 1 GiB torch checkpoint (written to bench/data/, deleted afterwards) and the
   bytes each scan read from it (cpmap counts its reads; the target is "no tensor payload").
2. Detection on the evasive corpus of tests/assets/models/corpus.py: every malicious file there
   runs its payload when loaded (a test proves it), the benign files must pass.
"""

from __future__ import annotations

import importlib.util
import io
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import DATA, ROOT
from bench.secrets import _write_section

CKPT = DATA / "ckpt-1g.pt"
CORPUS = DATA / "model-corpus"


def _corpus_module() -> ModuleType:
    path = ROOT / "tests" / "assets" / "models" / "corpus.py"
    spec = importlib.util.spec_from_file_location("cpmap_model_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_checkpoint() -> int:
    import torch

    DATA.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    # 64 tensors of 4 Mi float32 = 1 GiB, named like a transformer's layers
    state = {f"layers.{i // 4}.{('q', 'k', 'v', 'o')[i % 4]}.weight":
             torch.empty(2048, 2048).uniform_(generator=gen) for i in range(64)}
    torch.save(state, CKPT)
    return CKPT.stat().st_size


def _quiet(fn: Callable[[], Any]) -> Any:
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        return fn()


def _median_seconds(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = _quiet(fn)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def cpmap_verdict(path: Path) -> str:
    from cpmap.supplychain.modelfiles import scan_file

    return {"malicious": "dangerous", "suspicious": "warning", "safe": "clean"}[
        scan_file(path).verdict.value]


def picklescan_verdict(path: Path) -> str:
    from picklescan.scanner import scan_file_path

    r = _quiet(lambda: scan_file_path(str(path)))
    if r.infected_files:
        return "dangerous"
    return "warning" if r.suspicious_count or r.scan_err else "clean"


def modelscan_verdict(path: Path) -> str:
    from modelscan.modelscan import ModelScan

    ms = ModelScan()
    _quiet(lambda: ms.scan(str(path)))
    if ms.issues.all_issues:
        return "dangerous"
    return "warning" if ms.errors else "clean"


TOOLS: dict[str, Callable[[Path], str]] = {
    "cpmap": cpmap_verdict, "picklescan 1.0.5": picklescan_verdict,
    "modelscan 0.8.8": modelscan_verdict}


def checkpoint_section() -> str:
    from cpmap.supplychain.modelfiles import scan_file

    size = write_checkpoint()
    try:
        rows = []
        secs, report = _median_seconds(lambda: scan_file(CKPT))
        rows.append(f"| cpmap | {secs:.3f} | {report.verdict.value} | "
                    f"{report.bytes_read:,} bytes of {size:,} |")
        for name, fn in (("picklescan 1.0.5", picklescan_verdict),
                         ("modelscan 0.8.8", modelscan_verdict)):
            secs, verdict = _median_seconds(lambda fn=fn: fn(CKPT))
            rows.append(f"| {name} | {secs:.3f} | {verdict} | not measured |")
    finally:
        CKPT.unlink(missing_ok=True)
    return ("### 1 GiB torch checkpoint\n\n"
            f"`torch.save` of 64 float32 tensors (2048x2048), {size / 2**30:.2f} GiB, zip "
            "format; in-process, median of 3, warm page cache.\n\n"
            "| tool | seconds | verdict | read from the file |\n|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


def corpus_section() -> str:
    corpus = _corpus_module()
    cases = corpus.build(CORPUS, CORPUS / "CANARY")
    bad = [c for c in cases if c.expected != "safe"]
    good = [c for c in cases if c.expected == "safe"]
    verdicts = {name: {c.name: fn(c.path) for c in cases} for name, fn in TOOLS.items()}
    assert not (CORPUS / "CANARY").exists(), "a payload ran during the benchmark"
    rows = []
    for name, by_case in verdicts.items():
        dangerous = sum(by_case[c.name] == "dangerous" for c in bad)
        warned = sum(by_case[c.name] == "warning" for c in bad)
        missed = [c.name for c in bad if by_case[c.name] == "clean"]
        fps = sum(by_case[c.name] != "clean" for c in good)
        rows.append(f"| {name} | {dangerous}/{len(bad)} ({dangerous / len(bad):.0%}) | {warned} "
                    f"| {len(missed)} | {fps}/{len(good)} |")
    detail = ["| file | expected | " + " | ".join(TOOLS) + " |",
              "|---|---|" + "---|" * len(TOOLS)]
    detail += [f"| {c.name} | {c.expected} | "
               + " | ".join(verdicts[t][c.name] for t in TOOLS) + " |" for c in cases]
    return ("### Evasive corpus\n\n"
            f"{len(bad)} hostile files ({sum(c.live for c in bad)} of them verified to run "
            f"their payload when loaded) and {len(good)} benign ones. `dangerous`: flagged as "
            "malicious (picklescan: dangerous global; modelscan: any issue); `warning`: "
            "suspicious or a scan error; `clean`: nothing reported. The corpus is cpmap's own "
            "(`tests/assets/models/corpus.py`), written alongside the scanner; Keras, ONNX and "
            "compressed pickles are outside picklescan's scope.\n\n"
            "| tool | hostile flagged dangerous | warning only | missed (clean) | "
            "benign flagged |\n|---|---|---|---|---|\n" + "\n".join(rows)
            + "\n\n<details><summary>per file</summary>\n\n" + "\n".join(detail)
            + "\n\n</details>\n")


def main() -> None:
    import shutil

    body = checkpoint_section() + "\n" + corpus_section()
    shutil.rmtree(CORPUS, ignore_errors=True)
    _write_section("modelscan", "Model-file scanning (`python -m bench modelscan`)", body)


if __name__ == "__main__":
    main()
