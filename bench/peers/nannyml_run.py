"""Run NannyML's CBPE on a reference and an analysis Parquet file; print per-chunk estimated
accuracy and the time as JSON.

Executed inside its own virtual environment (NannyML is a benchmark peer, never a cpmap
dependency). Columns: ``proba`` (probability of class 1), ``pred``, ``y`` (reference only
counts), ``chunk`` (the analysis chunk index).
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    import nannyml as nml
    import pandas as pd

    ref = pd.read_parquet(sys.argv[1])
    ana = pd.read_parquet(sys.argv[2])
    size = int(sys.argv[3])
    start = time.perf_counter()
    cbpe = nml.CBPE(y_pred_proba="proba", y_pred="pred", y_true="y", metrics=["accuracy"],
                    problem_type="classification_binary", chunk_size=size)
    cbpe.fit(ref[["proba", "pred", "y"]])
    result = cbpe.estimate(ana[["proba", "pred"]]).to_df()
    seconds = time.perf_counter() - start
    values = [float(v) for v in result[("accuracy", "value")].tolist()]
    print(json.dumps({"seconds": seconds, "version": nml.__version__, "accuracy": values}))


if __name__ == "__main__":
    main()
