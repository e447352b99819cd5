"""CP3 stage: secrets and model files in the demo project.

It plants a realistic (seeded, never valid) Hugging Face token in the project's ``.env`` next to
placeholders that must *not* be reported, finds it, moves it to the environment and re-scans
(what earlier stages left in the tree is reviewed into a baseline), so the last secret scan, the
one the gate reads, is clean. It writes a safetensors model and a malicious pickle whose payload
would create a canary file and scans them; the pickle is never loaded: the stage checks that the
canary does not exist afterwards. Every scan is recorded as CP3 evidence.
"""

from __future__ import annotations

import pickle
import random
import string
from pathlib import Path

from cpmap.lifecycle.context import Context, StageResult

SEED = 4


def plant_env(workdir: Path) -> Path:
    rng = random.Random(SEED)  # noqa: S311 - a deterministic decoy, not a credential
    token = "hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34))
    env = workdir / "app" / ".env"
    env.parent.mkdir(parents=True, exist_ok=True)
    env.write_text("# demo service settings (the token is generated: it grants nothing)\n"
                   "MODEL_ID=digits-classifier\n"
                   f"HF_TOKEN={token}\n"
                   "OPENAI_API_KEY=<your-token>\n"
                   "DB_PASSWORD=changeme\n", encoding="utf-8")
    env.chmod(0o600)
    return env


class _Payload:
    """Pickles into ``exec(<write the canary>)``: what a trojaned checkpoint looks like."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"open({str(self.canary)!r}, 'w').write('payload ran')",)


def write_models(workdir: Path) -> tuple[Path, Path, Path]:
    import numpy as np
    from safetensors.numpy import save_file

    models = workdir / "models"
    models.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    safe = models / "digits_head.safetensors"
    save_file({"weight": rng.normal(size=(10, 64)).astype(np.float32),
               "bias": np.zeros(10, dtype=np.float32)}, str(safe))
    canary = models / "PAYLOAD_RAN"
    evil = models / "evil_checkpoint.pkl"
    evil.write_bytes(pickle.dumps({"state_dict": {"bias": [0.0] * 10},
                                   "_": _Payload(canary)}, protocol=4))
    return safe, evil, canary


def secrets_drill(ctx: Context) -> tuple[bool, list[str]]:
    """Plant, find, review, remediate, re-scan: the last scan (the one the gate reads) is clean."""
    from cpmap.supplychain.secrets import baseline, scan_tree
    from cpmap.supplychain.secrets.evidence import record_scan

    env = plant_env(ctx.workdir)
    first = scan_tree(ctx.workdir)
    record_scan(first, ctx.ws, name="demo-project")
    planted = [f for f in first.active if f.path == "app/.env"]
    others = [f for f in first.active if f.path != "app/.env"]
    lines = [f"secrets: {len(first.active)} in {first.files_scanned} files"]
    lines += [f"  {f.path}:{f.line} {f.rule} {f.masked}" for f in first.active]
    lines.append(f"  placeholders in {env.name} (<your-token>, changeme) not reported")
    # Review: what other stages left in the tree (CP1's demo supplier key) is accepted in a
    # baseline; the leaked token is remediated by reading it from the environment instead.
    reviewed = ctx.workdir / ".secrets-baseline.json"
    baseline.dump(reviewed, others)
    env.write_text(env.read_text().replace(
        next(line for line in env.read_text().splitlines() if line.startswith("HF_TOKEN=")),
        "HF_TOKEN=${HF_TOKEN}"), encoding="utf-8")
    final = scan_tree(ctx.workdir, baseline=baseline.load(reviewed))
    record_scan(final, ctx.ws, name="demo-project")
    lines += [f"  reviewed, baselined: {f.path} {f.rule}" for f in others]
    lines.append(f"  token moved to the environment; re-scan: {len(final.active)} secrets, "
                 f"{len(final.findings) - len(final.active)} baselined")
    return len(planted) == 1 and not final.active, lines


def _model_files(ctx: Context) -> tuple[bool, list[str]]:
    """A safe and a trojaned model file: the scanner tells them apart without loading either."""
    from cpmap.supplychain.modelfiles import ModelVerdict, scan_path
    from cpmap.supplychain.modelfiles.evidence import record_scan as record_models

    safe, evil, canary = write_models(ctx.workdir)
    reports = scan_path(ctx.workdir / "models")
    record_models(reports, ctx.ws)
    by_name = {Path(r.path).name: r for r in reports}
    caught = by_name[evil.name].verdict is ModelVerdict.MALICIOUS
    clean = by_name[safe.name].verdict is ModelVerdict.SAFE
    lines = []
    for r in reports:
        why = next((x.message for x in r.reasons if x.verdict is not ModelVerdict.SAFE), "")
        lines.append(f"model {Path(r.path).name}: {r.verdict.value}" + (f" ({why})" if why
                                                                         else ""))
    lines.append("payload never executed (canary absent)" if not canary.exists()
                 else "PAYLOAD RAN: canary present")
    return caught and clean and not canary.exists(), lines


def run(ctx: Context) -> StageResult:
    secrets_ok, lines = secrets_drill(ctx)
    models_ok, model_lines = _model_files(ctx)
    lines += model_lines
    for line in lines:
        ctx.log(line)
    return StageResult("CP3", secrets_ok and models_ok, tuple(lines))
