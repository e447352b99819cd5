"""``cpmap watch``: the worker that turns CP9 alerts and the schedule into runs.

Each tick looks, for every model with a production version (or the ones named), at the
triggers not accepted yet (:func:`cpmap.retrain.triggers.pending`) and runs the pipeline for
each under the model's run lock; a model whose lock another worker holds is left for that
worker (its trigger is still pending and the next tick sees it). New batches are the files in
``[retraining] intake`` (``*.csv`` / ``*.npz``, each with an optional ``NAME.json`` sidecar
naming ``source``, ``supplier`` and ``attestation``) that no earlier run checked. ``--once``
runs one tick and exits (cron, CI, tests; exit 1 when a run failed). Each tick first finishes,
as ``failed``, any run of the model that a killed worker left ``running``
(:func:`cpmap.retrain.pipeline.recover`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cpmap.core.ledger import Ledger
from cpmap.errors import Error, InputError
from cpmap.retrain.intake import Batch
from cpmap.retrain.pipeline import RunResult, recover, run
from cpmap.retrain.triggers import RunInProgress, pending

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


def production_models(ws: Workspace) -> list[str]:
    """Models with a production alias, as the signed moves say (checked alias rows)."""
    from cpmap.registry.signed_aliases import verified_aliases

    return sorted({name for name, alias in verified_aliases(ws) if alias == "production"})


def _checked(ws: Workspace) -> set[str]:
    return {str(s.get("digest", {}).get("sha256")) for e in
            Ledger(ws).entries(control="CP10", kind="retrain-intake")
            for s in e.statement.get("subject", [])}


def new_batches(ws: Workspace) -> list[Batch]:
    folder = ws.setting("retraining", "intake", "")
    if not folder:
        return []
    root = Path(ws.absolute(str(folder)))
    if not root.is_dir():
        raise InputError(f"[retraining] intake {folder!r}: not a folder")
    seen, out = _checked(ws), []
    for path in sorted(p for p in root.iterdir() if p.suffix.lower() in (".csv", ".npz")):
        if hashlib.sha256(path.read_bytes()).hexdigest() in seen:
            continue
        side = path.with_suffix(".json")
        meta = json.loads(side.read_text()) if side.is_file() else {}
        att = meta.get("attestation")
        out.append(Batch(path.resolve(), str(meta.get("source") or path.resolve().as_uri()),
                         meta.get("supplier"), (root / att).resolve() if att else None))
    return out


def tick(ws: Workspace, names: Sequence[str] = (), now: datetime | None = None,
         log: Callable[[str], None] = lambda _: None,
         failed: list[str] | None = None) -> list[RunResult]:
    """One pass over the models' pending triggers. A run that fails (recorded as ``failed``
    with its trigger, which is not retried) is logged and appended to ``failed``; the worker
    goes on with the other triggers and models."""
    results = []
    for name in names or production_models(ws):
        results += recover(ws, name, log)  # runs a killed worker left half-way
        for trig in pending(ws, name, now or datetime.now(UTC)):
            log(f"{name}: {trig.trigger} trigger {trig.key}: {trig.reason}")
            try:
                results.append(run(ws, name, trig, new_batches(ws), log=log))
            except RunInProgress as e:
                log(f"{name}: {e.message}; left for that worker")
                break
            except Error as e:
                log(f"{name}: the run for {trig.key} failed: {e.message}")
                if failed is not None:
                    failed.append(f"{trig.key}: {e.message}")
    return results


def watch(ws: Workspace, names: Sequence[str] = (), *, interval: float = 60.0,
          once: bool = False, log: Callable[[str], None] = lambda _: None,
          failed: list[str] | None = None) -> list[RunResult]:
    done: list[RunResult] = []
    while True:
        done += tick(ws, names, log=log, failed=failed)
        if once:
            return done
        time.sleep(interval)
