"""Run Evidently's data drift preset on two Parquet files; print timing and verdicts as JSON.

Executed inside bench/.venv-evidently (Evidently pins pandas<3), never imported by cpmap.
"""

from __future__ import annotations

import json
import sys
import time


def _columns(snapshot: object) -> dict[str, dict[str, object]]:
    """Per column: the drift score and whether Evidently calls it drifted."""
    out: dict[str, dict[str, object]] = {}
    for m in snapshot.dict()["metrics"]:  # type: ignore[attr-defined]
        config = m.get("config") or {}
        column = config.get("column")
        if column is None or not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        threshold = config.get("threshold")
        method = config.get("method")
        score = m.get("value")
        if isinstance(score, dict):
            score = score.get("value")
        score = float(score)
        p_value_like = "p_value" in str(method) or "p-value" in str(method)
        drifted = score < threshold if p_value_like else score >= threshold
        out[str(column)] = {"score": score, "method": method, "threshold": threshold,
                            "drift": bool(drifted)}
    return out


def main() -> None:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref = pd.read_parquet(sys.argv[1])
    cur = pd.read_parquet(sys.argv[2])
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    seconds = time.perf_counter() - start
    import evidently

    print(json.dumps({"seconds": seconds, "version": evidently.__version__,
                      "columns": _columns(snapshot)}))


if __name__ == "__main__":
    main()
