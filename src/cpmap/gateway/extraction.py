"""Output hardening measured: an extraction attack through the live gateway, within its budget.

With a client key that has the version's default output policy and budget, the attacker asks
up to ``max_queries`` rows (drawn from the model's training data when its metadata names a
dataset cpmap can read, else uniformly over the training range), in batches no larger than
the budget the gateway says is left: a batch over the budget is refused whole and still
charged, so a careful attacker reads the ``RateLimit`` header, learnt from a first single-row
query. It trains a surrogate MLP on the answers exactly as they come back (labels one-hot,
top-k filled, probabilities as given), and the check measures the surrogate's agreement with
the served model on other rows. Passing means the gateway kept the attacker below the
fidelity CP5 calls a stolen model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import httpx

    from cpmap.core.workspace import Workspace
    from cpmap.gateway.table import TableSpec
    from cpmap.models.protocol import Model

EVAL_ROWS = 400


def _pool(ws: Workspace, model: Model, n: int, rng: np.random.Generator,
          data: str | None = None) -> tuple[np.ndarray, str]:
    from cpmap.errors import Error
    from cpmap.models.datasets import load_dataset

    meta = dict(getattr(model, "meta", {}) or {})
    ref = data or meta.get("dataset")
    dim = int(model.input_shape[0])
    if isinstance(ref, str) and ref:
        try:
            x = load_dataset(ref, ws, like=meta, purpose="gateway check extraction").x
            if x.shape[1] == dim and len(x) >= n:
                return x[rng.permutation(len(x))[:n]].astype(np.float32), f"rows of {ref}"
        except Error:
            pass
    lo, hi = (float(b) for b in (meta.get("bounds") or (0.0, 1.0)))
    return rng.uniform(lo, hi, (n, dim)).astype(np.float32), "uniform over the training range"


def _targets(outputs: list[dict[str, Any]], n: int, k: int) -> np.ndarray:
    by = {o.get("name"): o for o in outputs}
    if "label" in by:
        onehot: np.ndarray = np.eye(k)[np.asarray(by["label"]["data"], dtype=np.int64)]
        return onehot
    if "top_k_labels" in by:
        top = np.asarray(by["top_k_labels"]["data"], dtype=np.int64).reshape(n, -1)
        vals = np.asarray(by["top_k_probabilities"]["data"], dtype=np.float64).reshape(n, -1)
        out = np.full((n, k), 0.0)
        rest = np.clip(1 - vals.sum(axis=1, keepdims=True), 0, 1) / max(k - top.shape[1], 1)
        out[:] = rest
        np.put_along_axis(out, top, vals, axis=1)
        return out
    probs = np.asarray(by["probabilities"]["data"], dtype=np.float64).reshape(n, k)
    norm: np.ndarray = probs / np.clip(probs.sum(axis=1, keepdims=True), 1e-12, None)
    return norm


def remaining(header: str) -> int | None:
    """The budget left, from the IETF ``RateLimit`` header (``"budget";r=N;t=S``)."""
    for part in header.split(","):
        fields = dict(f.strip().partition("=")[::2] for f in part.split(";")[1:])
        if part.strip().startswith('"budget"') and fields.get("r", "").isdigit():
            return int(fields["r"])
    return None


def _body(batch: np.ndarray, table: TableSpec | None) -> dict[str, Any]:
    if table is not None:
        from cpmap.gateway.table import to_columns

        return {"inputs": to_columns(batch, table)}
    return {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(batch.shape),
                        "data": batch.ravel().tolist()}]}


def attack(ws: Workspace, client: httpx.Client, path: str, key: str, model: Model,
           max_queries: int, threshold: float, seed: int = 0, *,
           table: TableSpec | None = None, data: str | None = None) -> dict[str, Any]:
    """Query through the gateway until refused or ``max_queries``; the surrogate's fidelity.
    A table model is asked in named columns (``table``), from the rows of ``data``."""
    from cpmap.redteam.shadow import MLPConfig, train_mlp

    rng = np.random.default_rng(seed)
    k = int(model.n_classes)
    pool, source = _pool(ws, model, max_queries + EVAL_ROWS, rng, data)
    xs, ys, refused = [], [], None
    answered, size = 0, 1  # a first single row reads the budget from the RateLimit header
    while answered < max_queries and size > 0:
        batch = pool[answered:answered + min(size, max_queries - answered)]
        r = client.post(path, json=_body(batch, table),
                        headers={"Authorization": f"Bearer {key}"})
        if r.status_code != 200:
            refused = r.status_code
            break
        xs.append(batch)
        ys.append(_targets(r.json()["outputs"], len(batch), k))
        answered += len(batch)
        left = remaining(r.headers.get("ratelimit", ""))
        size = 64 if left is None else min(64, left)
        if size == 0:
            refused = 429  # the budget is spent: the next query would be refused
    answered = sum(len(x) for x in xs)
    if not answered:
        return {"answered": 0, "refused_with": refused, "fidelity": 0.0, "source": source}
    surrogate = train_mlp(np.concatenate(xs), np.concatenate(ys), k, seed,
                          MLPConfig(hidden=64, epochs=200))
    held = pool[max_queries:]
    agree = surrogate.predict_proba(held).argmax(1) == model.predict_proba(held).argmax(1)
    return {"answered": answered, "refused_with": refused, "fidelity": float(agree.mean()),
            "threshold": threshold, "eval_rows": len(held), "source": source}
