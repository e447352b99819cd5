"""``cpmap models add`` keeps a safe file's bytes: one model file, one digest."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cpmap.cli import main
from cpmap.core.workspace import Workspace
from cpmap.models.store import get_model


def test_adding_a_skops_file_twice_gives_the_files_own_digest(ws: Workspace,
                                                                tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.random((60, 3))
    model = LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))
    path = tmp_path / "m.skops"
    path.write_bytes(sio.dumps(model))
    for _ in range(2):
        with pytest.raises(SystemExit) as done:
            main(["models", "add", str(path), "--name", "m", "--workspace", str(ws.root)])
        assert done.value.code in (0, None)
    own = hashlib.sha256(path.read_bytes()).hexdigest()
    assert get_model(ws, "m@1").digest == get_model(ws, "m@2").digest == own


def test_an_estimator_fitted_on_a_frame_does_not_warn_per_batch() -> None:
    from sklearn.linear_model import LogisticRegression

    from cpmap.models.adapters import SklearnModel

    frame = pd.DataFrame({"a": [0.0, 1.0, 0.2, 0.9], "b": [1.0, 0.0, 0.8, 0.1]})
    model = SklearnModel(LogisticRegression().fit(frame, [0, 1, 0, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.predict_proba(np.zeros((3, 2), np.float32)).shape == (3, 2)
