"""Secret scanning: cpmap vs detect-secrets on the same seeded data, in the same run.

Three parts. (1) Recall by provider on the labelled corpus of tests/assets/secrets/corpus.py
(every rule's token in its usual file and in YAML/JSON/shell/prose, the providers' other token
forms) and false positives on its negative set (placeholders in token shape, broken formats,
documented sample keys, decoys). (2) A large tree for throughput: ordinary source, configs,
notebooks and docs with *decoys* that look random but are not secrets (lock-file and SRI hashes,
UUIDs, git SHAs, checksums, base64 image data, documented example keys, placeholders) and
*planted* credentials of every rule's format at known (path, line). Recall = planted lines
reported / planted; false positives = reported lines that were not planted. Throughput = files /
wall-clock seconds of the whole CLI run (median of 3). (3) The cost of ``scrub`` (run on every
evidence predicate) on predicates of several sizes.

Sizes: ``CPMAP_BENCH_SECRETS_FILES`` (tree files, default 2000), ``CPMAP_BENCH_SECRETS_SEEDS``
(planted copies of each rule, default 8), ``CPMAP_BENCH_SECRETS_CORPUS_SEEDS`` (default 2).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from bench.common import DATA, ROOT, machine

T = TypeVar("T")
TREE = DATA / "secrets-tree"
CORPUS = DATA / "secrets-corpus"
PAGE = ROOT / "docs" / "benchmarks" / "cp3.md"
SUMMARY = ROOT / "docs" / "benchmarks.md"
FILES = int(os.environ.get("CPMAP_BENCH_SECRETS_FILES", "2000"))
SEEDS = int(os.environ.get("CPMAP_BENCH_SECRETS_SEEDS", "8"))
BIN = Path(sys.executable).parent


def _tokens_module() -> ModuleType:
    path = ROOT / "tests" / "assets" / "secrets" / "tokens.py"
    spec = importlib.util.spec_from_file_location("cpmap_secret_tokens", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _decoys(rng: random.Random) -> list[str]:
    png = base64.b64encode(rng.randbytes(48)).decode()
    return [
        f'commit_sha = "{_hex(rng, 40)}"',
        f'REQUEST_ID = "{uuid.UUID(int=rng.getrandbits(128))}"',
        f'expected_md5 = "{_hex(rng, 32)}"',
        f'checksum = "sha256:{_hex(rng, 64)}"',
        f'PNG_FIXTURE = "{png}"',
        'EXAMPLE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"',
        'api_key = os.environ["API_KEY"]',
        'password = "<your-password>"',
        'url = "https://example.com/api/v1/items?page=2"',
        f'cache_key = f"user:{{user_id}}:{_hex(rng, 8)}"',
    ]


def _source(rng: random.Random, n_lines: int) -> list[str]:
    words = ["model", "batch", "train", "loss", "value", "step", "epoch", "data", "layer",
             "config", "result", "index", "weights", "score", "path"]
    lines = ["from __future__ import annotations", "", "import os", ""]
    decoys = _decoys(rng)
    while len(lines) < n_lines:
        a, b = rng.choice(words), rng.choice(words)
        roll = rng.random()
        if roll < 0.08:
            lines.append(rng.choice(decoys))
        elif roll < 0.3:
            lines.append(f"def {a}_{b}(x: int) -> int:\n    return x * {rng.randint(2, 99)}")
        else:
            lines.append(f'{a}_{b} = "{a}-{b}-{rng.randint(0, 10**6)}"')
    return "\n".join(lines).split("\n")


def _lockfile(rng: random.Random) -> str:
    pkgs = {f"node_modules/pkg{i}": {
        "version": f"1.{i}.0",
        "integrity": "sha512-" + base64.b64encode(rng.randbytes(64)).decode()} for i in range(30)}
    return json.dumps({"name": "ui", "lockfileVersion": 3, "packages": pkgs}, indent=2)


def build_tree(files: int = FILES, seed: int = 7) -> tuple[int, set[tuple[str, int]]]:
    """Write the tree; return (file count, planted (path, line) set)."""
    tok = _tokens_module()
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    shutil.rmtree(TREE, ignore_errors=True)
    planted: set[tuple[str, int]] = set()
    written = 0
    for i in range(files):
        kind = i % 20
        rel = f"pkg{i % 37}/mod{i}"
        if kind == 0:
            rel, text = f"web{i}/package-lock.json", _lockfile(rng)
        elif kind == 1:
            rel = f"conf{i}/settings.yaml"
            text = "\n".join(f"{k}: {rng.randint(1, 999)}" for k in ("workers", "timeout",
                                                                      "port", "retries"))
        elif kind == 2:
            rel, text = f"docs/page{i}.md", "\n".join(
                f"Fixed in {_hex(rng, 40)}; run id {uuid.UUID(int=rng.getrandbits(128))}."
                for _ in range(20))
        else:
            rel, text = f"{rel}.py", "\n".join(_source(rng, rng.randint(30, 200)))
        path = TREE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
        written += 1
    for seed_i in range(SEEDS):
        for rule, value in sorted(tok.tokens(seed=100 + seed_i).items()):
            name, content = tok.line_for(rule, value)
            rel = f"svc{seed_i}/{name}"
            path = TREE / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            prefix = [f"# {rule} settings", ""]
            path.write_text("\n".join(prefix) + "\n" + content)
            first = value.split("\n")[0]
            line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if first in t)
            planted.add((rel, line))
            written += 1
    return written, planted


def _timed(cmd: list[str], repeat: int = 3) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        out = proc.stdout
    return statistics.median(times), out


def _median(fn: Callable[[], T], repeat: int = 3) -> tuple[float, T]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    assert value is not None
    return statistics.median(times), value


def run_cpmap(jobs: int, root: Path = TREE, repeat: int = 3
              ) -> tuple[float, set[tuple[str, int]]]:
    secs, out = _timed([str(BIN / "cpmap"), "scan", "secrets", str(root), "-f", "json",
                        "--jobs", str(jobs)], repeat)
    found = {(f["path"], f["line"]) for f in json.loads(out)["findings"]}
    return secs, found


def run_detect_secrets(root: Path = TREE) -> tuple[float, set[tuple[str, int]]]:
    # one run: at its speed three would take most of the benchmark's time
    secs, out = _timed([str(BIN / "detect-secrets"), "scan", "--all-files", str(root)], repeat=1)
    results = json.loads(out)["results"]
    found = set()
    for path, items in results.items():
        rel = Path(path).resolve().relative_to(root.resolve()).as_posix()
        found.update((rel, item["line_number"]) for item in items)
    return secs, found


REAL_PACKAGES = ("sqlalchemy", "pydantic", "requests", "urllib3", "jwt", "fsspec", "alembic")


def real_code_section() -> str:
    """False positives on real code: installed packages, assumed to ship no live secret."""
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    present = [site / p for p in REAL_PACKAGES if (site / p).is_dir()]
    real = DATA / "secrets-real"
    shutil.rmtree(real, ignore_errors=True)
    for pkg in present:
        shutil.copytree(pkg, real / pkg.name, ignore=shutil.ignore_patterns("__pycache__"))
    files = sum(1 for p in real.rglob("*") if p.is_file())
    cp_secs, cp_out = _timed([str(BIN / "cpmap"), "scan", "secrets", str(real), "-f", "json"],
                             repeat=1)
    cp = len(json.loads(cp_out)["findings"])
    ds_secs, ds_out = _timed([str(BIN / "detect-secrets"), "scan", "--all-files", str(real)],
                             repeat=1)
    ds = sum(len(v) for v in json.loads(ds_out)["results"].values())
    shutil.rmtree(real, ignore_errors=True)
    return ("\n### Real code\n\n"
            f"The installed sources of {', '.join(p.name for p in present)} ({files} files), "
            "which ship no live credential: every finding is a false positive (documentation "
            "examples at best). One run each.\n\n"
            "| tool | seconds | findings |\n|---|---|---|\n"
            f"| cpmap scan secrets | {cp_secs:.1f} | {cp} |\n"
            f"| detect-secrets 1.5.0 scan --all-files | {ds_secs:.1f} | {ds} |\n")


def _row(name: str, secs: float, files: int, found: set[tuple[str, int]],
         planted: set[tuple[str, int]]) -> tuple[str, dict[str, float]]:
    hit = len(found & planted)
    fp = len(found - planted)
    stats = {"seconds": secs, "files_per_s": files / secs, "recall": hit / len(planted),
             "fp": fp}
    return (f"| {name} | {secs:.2f} | {files / secs:,.0f} | {hit}/{len(planted)} "
            f"({hit / len(planted):.0%}) | {fp} |"), stats


CORPUS_SEEDS = int(os.environ.get("CPMAP_BENCH_SECRETS_CORPUS_SEEDS", "2"))


def _corpus_module() -> ModuleType:
    _tokens_module()  # the corpus reuses the generator loaded under the same name
    path = ROOT / "tests" / "assets" / "secrets" / "corpus.py"
    spec = importlib.util.spec_from_file_location("cpmap_secret_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _rate(hit: int, total: int) -> str:
    return f"{hit}/{total}" + (" **miss**" if hit < total else "")


def recall_section() -> str:
    """Recall per provider and false positives per negative kind, cpmap vs detect-secrets."""
    cor = _corpus_module()
    shutil.rmtree(CORPUS, ignore_errors=True)
    pos, neg = [], []
    for seed in range(CORPUS_SEEDS):
        p, n = cor.positives(seed), cor.negatives(seed)
        cor.write(CORPUS / f"s{seed}", p + n)
        pos += [(f"s{seed}/{e.name}", e) for e in p]
        neg += [(f"s{seed}/{e.name}", e) for e in n]
    cp_secs, cp = run_cpmap(1, CORPUS, repeat=1)
    ds_secs, ds = run_detect_secrets(CORPUS)
    by: dict[str, list[tuple[bool, bool]]] = {}
    for name, ex in pos:
        at = (name, ex.line)
        by.setdefault(ex.provider, []).append((at in cp, at in ds))
    rows = [f"| {prov} | {len(v)} | {_rate(sum(a for a, _ in v), len(v))} | "
            f"{_rate(sum(b for _, b in v), len(v))} |" for prov, v in sorted(by.items())]
    cp_hit = sum(a for v in by.values() for a, _ in v)
    ds_hit = sum(b for v in by.values() for _, b in v)
    n_rules = len({ex.rule for _, ex in pos})
    rows.append(f"| **all ({len(by)} providers, {n_rules} rules)** | {len(pos)} | "
                f"**{cp_hit}/{len(pos)} ({cp_hit / len(pos):.1%})** | "
                f"**{ds_hit}/{len(pos)} ({ds_hit / len(pos):.1%})** |")
    kinds: dict[str, list[tuple[bool, bool]]] = {}
    cp_files, ds_files = {p for p, _ in cp}, {p for p, _ in ds}
    for name, ex in neg:
        kinds.setdefault(ex.provider, []).append((name in cp_files, name in ds_files))
    neg_rows = [f"| {k} | {len(v)} | {sum(a for a, _ in v)} | {sum(b for _, b in v)} |"
                for k, v in sorted(kinds.items())]
    shutil.rmtree(CORPUS, ignore_errors=True)
    return (
        f"Labelled corpus (tests/assets/secrets/corpus.py, seeds 0-{CORPUS_SEEDS - 1}): "
        f"{len(pos)} positives, each a file with one generated credential in its provider's "
        "documented format (in its usual file, and for token formats also in YAML, JSON, a "
        "shell export and a sentence of prose; plus the providers' other token forms), and "
        f"{len(neg)} negatives. A positive counts as found when the tool reports its line. "
        f"cpmap {cp_secs:.1f} s, detect-secrets 1.5.0 {ds_secs:.1f} s (one run each). The "
        "corpus was written together with cpmap's rules, from the same reading of each "
        "provider's documentation: cpmap's column shows that every documented form is "
        "implemented (the tests hold it at 100%), not its recall on real-world leaks; "
        "detect-secrets' column is the independent comparison.\n\n"
        "| provider | positives | cpmap | detect-secrets |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nNegative set: files reported (each holds one non-secret).\n\n"
        "| kind | files | cpmap | detect-secrets |\n|---|---|---|---|\n"
        + "\n".join(neg_rows) + "\n")


def scrub_section() -> str:
    """What the last line of defence costs on evidence predicates of several sizes."""
    from cpmap.supplychain.secrets import scrub

    tok = _tokens_module()
    def finding(i: int) -> dict[str, object]:  # distinct texts: nothing repeats for free
        return {"rule_id": "CP3-DEP-VULN", "severity": "high",
                "message": f"pkg{i} 2.{i}.1: PYSEC-2023-{i} (CVE-2023-{30000 + i}) Unintended "
                           "leak of Proxy-Authorization header",
                "location": {"path": "requirements.txt", "line": i},
                "remediation": f"upgrade pkg{i} to 2.{i + 1}.0", "tags": ["AML.T0010"]}

    cases = {f"{n:,} findings": [finding(i) for i in range(n)] for n in (5, 200, 5000)}
    cases["200 findings + 1 planted token"] = [*cases["200 findings"],
                                               f"HF_TOKEN={tok.tokens(1)['huggingface-token']}"]
    rows = []
    for name, findings in cases.items():
        pred = {"control": "CP3", "verdict": "fail", "metrics": {"n": len(findings)},
                "findings": findings, "details": {"highlights": ["x"]}}
        size = len(json.dumps(pred))
        secs, _ = _median(lambda p=pred: scrub(p), repeat=5)  # type: ignore[misc]
        rows.append(f"| {name} | {size / 1024:,.0f} KiB | {secs * 1000:.2f} ms |")
    return ("\n### scrub() on evidence predicates\n\nIn-process, median of 5 "
            "(`cpmap.supplychain.secrets.scrub`, run by `Evidence.statement()` on every "
            "predicate before it is signed); each finding has its own texts.\n\n"
            "| predicate | JSON size | time |\n|---|---|---|\n"
            + "\n".join(rows) + "\n")


def main() -> None:
    recall = recall_section()
    _write_section("secrets-recall", "Secret scanning: recall by provider "
                   "(`python -m bench secrets`)", recall)
    _write_section("secrets-recall", "CP3 secret scanning: recall by provider", recall,
                   page=SUMMARY)
    files, planted = build_tree()
    rows = []
    results = {}
    for jobs in (1, 2):
        secs, found = run_cpmap(jobs)
        row, results[f"cpmap-j{jobs}"] = _row(f"cpmap scan secrets --jobs {jobs}", secs, files,
                                              found, planted)
        rows.append(row)
    from cpmap.supplychain.secrets import scan_tree

    secs, scan = _median(lambda: scan_tree(TREE, jobs=1))
    row, results["in-process"] = _row("cpmap scan_tree() in-process, serial", secs, files,
                                      {(f.path, f.line) for f in scan.findings}, planted)
    rows.append(row)
    ds_secs, ds_found = run_detect_secrets()
    row, results["detect-secrets"] = _row("detect-secrets 1.5.0 scan --all-files", ds_secs,
                                          files, ds_found, planted)
    rows.append(row)
    _, cp_found = run_cpmap(2)
    missed_ds = sorted({Path(rel).name for rel, _ in planted - ds_found})
    n_rules = len(_tokens_module().tokens(0))
    body = (
        f"Tree: {files} files ({len(planted)} planted credentials of {n_rules} formats, "
        f"{SEEDS} each; decoys: lock-file SRI hashes, git SHAs, UUIDs, checksums, base64 "
        "fixtures, example keys, placeholders). Whole CLI runs (start-up included) unless "
        "marked in-process; cpmap median of 3, detect-secrets one run.\n\n"
        "| tool | seconds | files/s | recall | false positives |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nThroughput ratio (cpmap --jobs 2 / detect-secrets): "
        f"{results['detect-secrets']['seconds'] / results['cpmap-j2']['seconds']:.1f}x; "
        f"serial (--jobs 1): "
        f"{results['detect-secrets']['seconds'] / results['cpmap-j1']['seconds']:.1f}x.\n\n"
        f"Planted lines detect-secrets missed: {len(planted - ds_found)}, in files named "
        f"{', '.join(missed_ds) or 'none'}.\n"
        f"Planted lines cpmap missed: {len(planted - cp_found)}.\n") + real_code_section() \
        + scrub_section()
    _write_section("secrets", "Secret scanning (`python -m bench secrets`)", body)
    shutil.rmtree(TREE, ignore_errors=True)


def _write_section(key: str, title: str, body: str, page: Path = PAGE) -> None:
    """Replace this benchmark's section of a page (the CP3 page by default), keeping the rest."""
    start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    section = f"{start}\n## {title}\n\nMeasured on {machine()}.\n\n{body.strip()}\n{end}"
    page.parent.mkdir(parents=True, exist_ok=True)
    text = page.read_text() if page.exists() else "# CP3 benchmarks\n"
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    page.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
