"""CP8 benchmark: per-request OOD overhead, monitoring on vs off in the gateway, and OOD
detection quality on digits against the max-softmax baseline; whylogs profiling the same rows.

1. **Overhead per request**: :meth:`OodDetector.score` on one row of 128 features (target
   <= 50 us), and the whole :meth:`Monitor.check` (score, river detectors per model and client,
   per-client probing) on one digits row, median of many calls.
2. **Gateway on vs off**: the same version served twice on 127.0.0.1, sequential requests of
   one row through httpx, median latency and requests/s.
3. **Quality**: a small digits MLP; in-distribution = digits it never saw; OOD sets = uniform
   noise, inverted (1 - x), shifted (rolled 2 pixels), other-domain (8x8 patches of the two
   photographs scikit-learn ships), FGSM and PGD (CP4's attacks, eps 0.1 and 0.2, on the
   model's gradients). AUROC and TPR at 1% FPR (threshold from the in-distribution scores) for
   Mahalanobis on inputs, max-softmax (the baseline), energy on logits, and cpmap's flag score.
4. **whylogs** (peer, own venv ``bench/.venv-whylogs``): profiling the same rows one request at
   a time, when it installs.

Run: ``python -m bench monitor``. Writes docs/benchmarks/cp8.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import write_page

HERE = Path(__file__).parent
VENV = Path(os.environ.get("CPMAP_BENCH_WHYLOGS_VENV") or HERE / ".venv-whylogs")


def _median_us(fn: Any, n: int = 3000) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def _synthetic(d: int = 128) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(d, d)) / 8
    return rng.normal(size=(4000, d)) @ mix, rng.dirichlet(np.ones(10) * 0.2, size=1000)


def overhead_128() -> dict[str, float]:
    """The OOD score alone at 128 features: the detector's batch form and the request path's
    :class:`Scorer` (whitening folded in once)."""
    from cpmap.monitor.ood import Scorer, calibrate, fit_input

    x, probs = _synthetic()
    det = calibrate(fit_input(x[:3000]), x[3000:], probs, 0.01)
    row, p = x[:1].astype(np.float32), probs[:1]
    fast = Scorer(det)
    return {"detector": _median_us(lambda: det.score(row.astype(np.float64), p)),
            "scorer": _median_us(lambda: fast.score(row, p)),
            "one": _median_us(lambda: fast.score_one(row[0], p[0]))}


def _baseline_128(mv: Any) -> Any:
    from cpmap.monitor.baseline import Baseline
    from cpmap.monitor.ood import calibrate, fit_input
    from cpmap.monitor.probing import calibrate as calibrate_probing

    x, probs = _synthetic()
    det = calibrate(fit_input(x[:3000]), x[3000:], probs, 0.01)
    return Baseline(mv.ref, mv.digest, det, calibrate_probing(x[:1000], probs[:1000]), 0.01,
                    0.9, 0.5)


def check_overhead(ws: Any, mv: Any, data: dict[str, Any]) -> dict[str, float]:
    """``Monitor.check`` per 1-row request: the request path (detectors, probing and alerts on
    the consumer thread), and everything inline (the design before the consumer, the same
    work), at 64 features (digits) and 128 (synthetic); plus the consumer's cost per event."""
    from prometheus_client import CollectorRegistry

    from cpmap.monitor.baseline import current
    from cpmap.monitor.config import MonitorConfig
    from cpmap.monitor.live import Monitor

    out: dict[str, float] = {}
    x128 = _synthetic()[0][3000:].astype(np.float32)
    for d, base, rows in ((64, current(ws, mv.digest), data["x_test"].astype(np.float32)),
                          (128, _baseline_128(mv), x128)):
        probs = np.full((1, 10), 0.02)
        probs[0, 3] = 0.82
        for background in (True, False):
            mon = Monitor(ws, mv.ref, mv.digest, base, MonitorConfig(policy="log"),
                          CollectorRegistry(), background=background)
            i = iter(range(10**9))

            def one(mon: Any = mon, rows: np.ndarray = rows, probs: np.ndarray = probs,
                    i: Any = i) -> None:
                k = next(i) % len(rows)
                mon.check(f"c{k % 8}", rows[k:k + 1], probs, mv.digest)

            key = f"{'path' if background else 'inline'}_{d}"
            out[key] = _median_us(one, 3000)
            t = time.perf_counter()
            mon.drain(60)
            if background:
                out[f"drain_{d}_s"] = time.perf_counter() - t
            mon.close()
    return out


def _workspace(tmp: Path) -> tuple[Any, Any, dict[str, np.ndarray]]:
    """A workspace with a small digits MLP registered (lineage: its data, with a hold-out)."""
    import torch

    from cpmap.builtin import digits
    from cpmap.core.workspace import init
    from cpmap.models.datasets import Dataset
    from cpmap.models.persist import model_bytes
    from cpmap.provenance.datasets import register_dataset
    from cpmap.registry.versions import register
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    torch.set_num_threads(1)
    x, y = digits()
    order = np.random.default_rng(7).permutation(len(x))
    lin, te = order[:1500], order[1500:]
    ds = Dataset("digits", "0" * 64, x[lin], y[lin], tuple(str(i) for i in range(10)),
                 image_shape=(1, 8, 8))
    tr, _ = ds.split(0.2, 0)
    model = train(tr, TrainConfig(arch="mlp", hidden=(64,), epochs=20, lr=5e-3)).model
    ws = init(tmp / "proj", "bench")
    npz = tmp / "digits.npz"
    np.savez(npz, x=x[lin], y=y[lin])
    dv = register_dataset(ws, "digits-train", npz, source="builtin:digits")
    path = tmp / "digits.safetensors"
    path.write_bytes(model_bytes(model)[0])
    record = {"datasets": [{"digest": dv.digest, "role": "train",
                            "split": {"test_size": 0.2, "seed": 0}}]}
    mv = register(ws, "digits", path, datasets=[dv.ref], training=record).version
    return ws, mv, {"x_test": x[te], "y_test": y[te], "module": model.module}


def gateway_on_off(ws: Any, mv: Any, data: dict[str, Any], n: int = 200,
                   rounds: int = 2) -> dict[str, Any]:
    """Monitoring off vs on, alternating rounds: client-side latency (sequential httpx) and the
    gateway's own ``latency_ms`` (parse to response, as the prediction log records it)."""
    import httpx

    from cpmap.gateway import build, run_in_thread
    from cpmap.gateway.config import load
    from cpmap.gateway.keys import create

    key = create(ws, "bench", ["infer:digits"], "1000000/minute", "10000000/day")[0]
    rows = data["x_test"].astype(np.float32)
    times: dict[str, list[float]] = {"off": [], "on": []}
    server: dict[str, list[float]] = {"off": [], "on": []}
    for mode in ("off", "on") * rounds:
        ws.config["monitoring"] = {"enabled": mode, "policy": "flag",
                                   "probing_action": "alert"}
        app = build(ws, mv.ref, load(ws, env={}), allow_ungated=True, record_evidence=False)
        add = app.predlog.add

        def logged(e: dict[str, Any], add: Any = add, mode: str = mode) -> None:
            if e.get("latency_ms") is not None and len(server[mode]) < 10**6:
                server[mode].append(float(e["latency_ms"]))
            add(e)

        app.predlog.add = logged  # type: ignore[method-assign]
        gw = run_in_thread(app)
        with httpx.Client(base_url=gw.url, timeout=10,
                          headers={"Authorization": f"Bearer {key}"}) as c:
            for k in range(n + 20):
                body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64],
                                    "data": rows[k % len(rows)].tolist()}]}
                t = time.perf_counter()
                assert c.post("/v2/models/digits/infer", json=body).status_code == 200  # noqa: S101
                if k >= 20:
                    times[mode].append(time.perf_counter() - t)
        gw.stop()
        del server[mode][-n - 20:-n]  # warm-up requests of this round
    return {m: {"p50_ms": statistics.median(times[m]) * 1e3,
                "server_p50_ms": statistics.median(server[m]),
                "rps": len(times[m]) / sum(times[m]), "n": len(times[m])} for m in times}


def _photo_patches(n: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import load_sample_images

    out = []
    for img in load_sample_images().images:
        gray = img.mean(axis=2) / 255.0
        for _ in range(n // 2):
            r, c = rng.integers(0, gray.shape[0] - 64), rng.integers(0, gray.shape[1] - 64)
            patch = gray[r:r + 64, c:c + 64].reshape(8, 8, 8, 8).mean(axis=(1, 3))
            out.append(patch.ravel())
    return np.asarray(out)


def quality(ws: Any, mv: Any, data: dict[str, Any]) -> list[dict[str, Any]]:
    import torch
    from sklearn.metrics import roc_auc_score

    from cpmap.monitor.baseline import current
    from cpmap.monitor.ood import energy
    from cpmap.robustness.attacks import fgsm, pgd

    base = current(ws, mv.digest)
    module = data["module"]
    x_in = data["x_test"].astype(np.float32)
    y_in = data["y_test"]
    rng = np.random.default_rng(0)
    xt, yt = torch.as_tensor(x_in), torch.as_tensor(y_in)
    sets = {"uniform noise": rng.uniform(0, 1, x_in.shape), "inverted": 1 - x_in,
            "shifted 2 px": np.roll(x_in.reshape(-1, 8, 8), 2, axis=2).reshape(-1, 64),
            "other domain (photo patches)": _photo_patches(len(x_in), rng)}
    for eps in (0.1, 0.2):
        sets[f"FGSM eps {eps}"] = fgsm(module, xt, yt, eps).numpy()
        sets[f"PGD-10 eps {eps}"] = pgd(module, xt, yt, eps, steps=10).numpy()

    def scores(x: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            logits = module(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy()
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        xs = np.asarray(x, dtype=np.float64)
        return {"mahalanobis": base.detector.input_score(xs), "max-softmax": 1 - p.max(1),
                "energy": energy(logits.astype(np.float64)),
                "cpmap flag score": base.detector.score(xs, p)[0]}

    from cpmap.core.artifacts import load_object
    from cpmap.redteam.stats import clopper_pearson

    doc = json.loads(load_object(ws, base.sha256) or b"{}")
    calibrated = {k: float(v["threshold"]) for k, v in doc.get("output_scores", {}).items()}

    def flags(got: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {"flagged": got["cpmap flag score"] >= 1}
        out.update({f"{k} alone": got[k] >= t for k, t in calibrated.items()})
        return out

    ref = scores(x_in)
    rows = []
    for name, x in sets.items():
        got = scores(x)
        row: dict[str, Any] = {"set": name, "n": len(x)}
        for s, values in got.items():
            thr = np.quantile(ref[s], 0.99)
            lab = np.r_[np.zeros(len(ref[s])), np.ones(len(values))]
            row[s] = (roc_auc_score(lab, np.r_[ref[s], values]), float((values > thr).mean()))
        row.update({k: clopper_pearson(int(v.sum()), len(v)) for k, v in flags(got).items()})
        rows.append(row)
    natural = {k: clopper_pearson(int(v.sum()), len(v)) for k, v in flags(ref).items()}
    rows.append({"set": "natural test digits (false alarms)", "n": len(x_in), **natural,
                 "baseline_check": doc.get("false_alarms", {}).get("text", "-")})
    return rows


NOTES = """## Reading these figures

- The request path (`Monitor.check` with the consumer thread) computes only what the response
  depends on: the OOD score and flag (the refuse policy), the confidence, the abstain output,
  and queues one event. The change detectors (two river detectors per row, per model and per
  client), the client's nearest-neighbour distance over its last 256 queries, the probing
  tests, the Prometheus metrics and the alerts run on the consumer thread, in request order:
  the "all inline" row is that same work on the request path (the design before). The
  consumer's work still costs CPU in the process (the GIL is shared); it no longer adds to a
  request's latency.
- whylogs builds a new profile per ``why.log`` call: per-request logging is not how it is meant
  to be used (it profiles batches); ``DatasetProfile.track`` into one long-lived profile is the
  cheaper per-request form. whylogs is no longer maintained by its vendor. Its profile is
  per-feature statistics only: no OOD score, no per-request flag.
- Gateway client-side latencies are dominated by this shared machine's load (sequential httpx
  requests); the gateway's own ``latency_ms`` (parse to response, logged per request) is the
  figure to compare.
- The adversarial examples are caught because L-inf FGSM/PGD perturb every pixel, including the
  border pixels that are (near) constant in digits, which Mahalanobis on standardized inputs
  punishes. An adaptive attacker that leaves those pixels alone, or that optimizes against the
  detector too, was not measured and should be assumed to evade it. Max-softmax (the baseline)
  misses most adversarial examples: they are confidently misclassified.
- Energy on this small MLP's logits can rank inverted digits as *more* in-distribution than
  digits (an AUROC below 0.5): it is calibrated and reported with the baseline, not used by the
  gateway's flag.
- Thresholds are split-conformal: the ``ceil((n+1)(1-a))``-th of ``n`` held-out scores, for
  each of the two scores at ``a = 0.5%``; input scores of the fit rows join them out-of-fold
  (5 folds). The guarantee is marginal (over calibration draws): with 200 model-unseen
  calibration rows for the confidence score, one realised rate can sit above the target.
"""


WHYLOGS = """
import json, sys, time, statistics
import numpy as np, pandas as pd
import whylogs as why
rows = np.load(sys.argv[1])
cols = [f"f{i}" for i in range(rows.shape[1])]
frames = [pd.DataFrame(rows[k][None, :], columns=cols) for k in range(80)]
fresh, track = [], []
profile = why.log(frames[0]).profile()
for k, df in enumerate(frames):
    t = time.perf_counter(); why.log(df); fresh.append(time.perf_counter() - t)
    t = time.perf_counter(); profile.track(pandas=df); track.append(time.perf_counter() - t)
print(json.dumps({"version": why.__version__, "us": statistics.median(fresh[20:]) * 1e6,
                  "track_us": statistics.median(track[20:]) * 1e6}))
"""


def whylogs_peer(rows: np.ndarray, tmp: Path) -> dict[str, Any]:
    python = VENV / "bin" / "python"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)  # noqa: S603
        probe = subprocess.run([str(python), "-c", "import whylogs"],  # noqa: S603
                               capture_output=True, check=False)
        if probe.returncode:
            subprocess.run([str(python), "-m", "pip", "install", "-q", "whylogs",  # noqa: S603
                            "pandas"], check=True, timeout=900)
        np.save(tmp / "rows.npy", rows)
        env = {**os.environ, "WHYLOGS_NO_ANALYTICS": "True"}  # no telemetry call per log
        out = subprocess.run([str(python), "-c", WHYLOGS, str(tmp / "rows.npy")],  # noqa: S603
                             capture_output=True, text=True, check=True, timeout=600,
                             env=env)
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))
    except (subprocess.SubprocessError, OSError, ValueError) as e:
        return {"error": f"{type(e).__name__}: {str(e)[:200]}"}


def _page(o128: dict[str, float], check: dict[str, float], gw: dict[str, Any],
          q: list[dict[str, Any]], peer: dict[str, Any]) -> str:
    lines = ["## Overhead per request", "",
             "| what | median |", "|---|---|",
             f"| OOD score alone, 1 row x 128 features, `OodDetector.score` (batch form) | "
             f"{o128['detector']:.1f} us |",
             f"| OOD score alone, 1 row x 128 features, `Scorer.score` (request path, "
             f"whitening folded in) | {o128['scorer']:.1f} us |",
             f"| OOD score alone, 1 row x 128 features, `Scorer.score_one` (the 1-row request: "
             f"floats, no per-row arrays) | {o128['one']:.1f} us |"]
    for d in (64, 128):
        lines += [f"| `Monitor.check` request path, 1 row x {d} features (score, flag, "
                  f"confidence, policy; one event queued) (target <= 50 us) | "
                  f"{check[f'path_{d}']:.1f} us |",
                  f"| `Monitor.check` all inline, 1 row x {d} features (the design before the "
                  f"consumer: ADWIN + Page-Hinkley per model and client, probing, metrics on "
                  f"the request path) | {check[f'inline_{d}']:.1f} us |"]
    if "us" in peer:
        lines += [f"| whylogs {peer['version']} `why.log`, the same 1-row request, "
                  f"64 features (peer, same run) | {peer['us']:.1f} us |",
                  f"| whylogs {peer['version']} `DatasetProfile.track` of the 1-row request "
                  f"into one long-lived profile (peer, same run) | {peer['track_us']:.1f} us |"]
    else:
        lines.append(f"| whylogs (peer) | not measured: {peer.get('error')} |")
    lines += ["", "## Gateway, monitoring off vs on (sequential 1-row requests, 127.0.0.1, "
              "alternating rounds)", "",
              "| monitoring | requests | client p50 | gateway `latency_ms` p50 | requests/s |",
              "|---|---|---|---|---|"]
    lines += [f"| {m} | {v['n']} | {v['p50_ms']:.2f} ms | {v['server_p50_ms']:.3f} ms | "
              f"{v['rps']:.0f} |" for m, v in gw.items()]
    scores = ("mahalanobis", "max-softmax", "energy", "cpmap flag score")
    lines += ["", "## OOD detection on digits (AUROC / TPR at 1% FPR)", "",
              "In-distribution: digits the model never saw. `flagged`: share the gateway's "
              "calibrated flag (target 1% false alarms) raises.", "",
              "| set | n | " + " | ".join(scores) + " | flagged |",
              "|---|---|" + "---|" * (len(scores) + 1)]
    for r in q:
        cells = [f"{r[s][0]:.3f} / {r[s][1]:.1%}" if s in r else "-" for s in scores]
        lines.append(f"| {r['set']} | {r['n']} | " + " | ".join(cells) +
                     f" | {r['flagged'].value:.1%} |")
    alone = [k for k in q[-1] if k.endswith(" alone")]
    lines += ["", "## Calibrated flags (thresholds from the baseline, conformal at 1%)", "",
              "The gateway's flag (Mahalanobis and max-softmax, 0.5% each), and each output "
              "score calibrated alone at 1% on the same calibration rows (reported in the "
              "baseline, not used by the gateway, which sees probabilities only). Rates with "
              "their count and 95% Clopper-Pearson interval.", "",
              "| set | gateway flag | " + " | ".join(alone) + " |",
              "|---|---|" + "---|" * len(alone)]
    lines += [f"| {r['set']} | {r['flagged'].text()} | " +
              " | ".join(r[k].text() for k in alone) + " |" for r in q]
    lines += ["", f"The baseline's own held-out check split (rows never used to fit or "
              f"calibrate): {q[-1]['baseline_check']}."]
    lines += ["", NOTES]
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        o128 = overhead_128()
        ws, mv, data = _workspace(tmp)
        from cpmap.monitor.baseline import build

        build(ws, mv.ref)
        check = check_overhead(ws, mv, data)
        gw = gateway_on_off(ws, mv, data)
        q = quality(ws, mv, data)
        peer = whylogs_peer(data["x_test"].astype(np.float64), tmp)
        ws.close()
    write_page("cp8", "CP8: monitoring overhead and OOD detection", _page(o128, check, gw, q,
                                                                        peer), "monitor")


if __name__ == "__main__":
    main()
