"""Real CP5 attacks through a real gateway on 127.0.0.1 with monitoring on: the extraction
attacker is flagged (and throttled) before it has the query count CP5 measured for a stolen
model; natural test traffic is not flagged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np

from cpmap.core.workspace import Workspace
from cpmap.redteam.target import Target
from cpmap.registry.manifest import ModelVersion

from .conftest import oip

POOL = 50
PROBING = {"extraction", "membership-probing", "ood-probing", "cost-harvesting"}


class Refused(RuntimeError):
    pass


def gateway_target(url: str, key: str, version: ModelVersion) -> Target:
    """A CP5 target whose every query goes through the gateway (64 rows per request)."""
    from cpmap.gateway.extraction import _targets

    client = httpx.Client(base_url=url, timeout=10,
                          headers={"Authorization": f"Bearer {key}"})

    def predict(x: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(x), 64):
            r = client.post(f"/v2/models/{version.name}/infer", json=oip(x[i:i + 64]))
            if r.status_code != 200:
                raise Refused(r.status_code)
            out.append(_targets(r.json()["outputs"], len(x[i:i + 64]), 10))
        return np.concatenate(out)

    return Target(version.name, version.digest, predict, 10, (64,))


def local_target(ws: Workspace, version: ModelVersion) -> Target:
    from cpmap.gateway.served import load

    model = load(ws, version.ref).model
    return Target(version.name, version.digest, model.predict_proba, 10, (64,))


def first_alert(app: Any, kinds: set[str]) -> Any:
    app.monitor.drain()
    found = [a for a in app.monitor.sink.raised if a.kind in kinds]
    return found[0] if found else None


def test_extraction_is_flagged_before_a_stolen_model(
        ws: Workspace, version: ModelVersion, baseline: Any, serve_mon: Callable[..., Any],
        key: Callable[..., str], digits_split: dict[str, np.ndarray]) -> None:
    from cpmap.redteam.extraction import extract

    xt, yt = digits_split["x_test"], digits_split["y_test"]
    # CP5's attacker holds a few natural rows and synthesises the rest (mixups); one that
    # holds enough natural rows steals this small model with natural queries alone, which no
    # query-pattern detector can tell from a user (docs/cp8-monitoring.md): CP7's budget does
    pool, evaluation = xt[:POOL], (xt[POOL:], yt[POOL:])
    budgets = [50, 100, 200, 400, 800, 1600]
    measured = extract(local_target(ws, version), pool, evaluation, budgets,
                       outputs=("probabilities",), seed=0)
    stolen = [p.budget for p in measured.points if p.output == "probabilities"
              and p.fidelity >= 0.9]
    assert stolen, [(p.budget, p.fidelity) for p in measured.points]
    thief = key("thief", budget="1000000/day", rate="100000/minute", output="full")
    gw = serve_mon(monitoring={"probing_action": "throttle"}, max_batch=64)
    try:
        extract(gateway_target(gw.url, thief, version), pool, evaluation, budgets,
                outputs=("probabilities",), seed=0)
        refused = None
    except Refused as e:
        refused = e.args[0]
    alert = first_alert(gw.app, PROBING)
    assert alert is not None and alert.kind in ("extraction", "ood-probing")
    print(f"extraction: flagged at {alert.info['rows_seen']} rows; CP5 measured a stolen "
          f"model (fidelity >= 0.9) at {min(stolen)} queries")
    assert alert.info["rows_seen"] < min(stolen), (alert, stolen)
    assert refused == 429  # throttled once flagged


def test_data_free_extraction_is_flagged_within_a_few_queries(
        ws: Workspace, version: ModelVersion, baseline: Any, serve_mon: Callable[..., Any],
        key: Callable[..., str]) -> None:
    thief = key("free", budget="1000000/day", rate="100000/minute")
    gw = serve_mon(monitoring={"probing_action": "block"})
    noise = np.random.default_rng(1).uniform(0, 1, (640, 64))
    with httpx.Client(base_url=gw.url, timeout=10,
                      headers={"Authorization": f"Bearer {thief}"}) as c:
        codes = [c.post("/v2/models/digits/infer", json=oip(noise[i:i + 32])).status_code
                 for i in range(0, 640, 32)]
    alert = first_alert(gw.app, PROBING)
    assert alert is not None and alert.kind == "ood-probing" and alert.atlas == "AML.T0015"
    assert alert.info["rows_seen"] <= 64
    assert 403 in codes and codes.index(403) <= 3  # blocked from then on


def test_natural_traffic_is_not_flagged(
        ws: Workspace, version: ModelVersion, baseline: Any, serve_mon: Callable[..., Any],
        key: Callable[..., str], digits_split: dict[str, np.ndarray]) -> None:
    user = key("user", budget="1000000/day", rate="100000/minute")
    gw = serve_mon()
    xt = digits_split["x_test"]
    with httpx.Client(base_url=gw.url, timeout=10,
                      headers={"Authorization": f"Bearer {user}"}) as c:
        codes = {c.post("/v2/models/digits/infer", json=oip(xt[i:i + 8])).status_code
                 for i in range(0, len(xt), 8)}
    assert codes == {200}
    assert first_alert(gw.app, PROBING | {"low-confidence", "ood-rate"}) is None


def test_membership_probing(ws: Workspace, version: ModelVersion, baseline: Any,
                            serve_mon: Callable[..., Any], key: Callable[..., str],
                            digits_split: dict[str, np.ndarray]) -> None:
    """CP5's loss-threshold attack queries each record once: natural-looking traffic, not
    flagged (its defence is output hardening, CP5/CP7). A label-only prober's near-duplicates
    around a record are flagged as membership probing."""
    from cpmap.redteam.membership import loss_threshold

    k1 = key("mia", budget="1000000/day", rate="100000/minute", output="full")
    k2 = key("prober", budget="1000000/day", rate="100000/minute")
    gw = serve_mon(monitoring={"probing_action": "alert"})
    x = np.concatenate([digits_split["x"][:100], digits_split["x_test"][:100]])
    y = np.concatenate([digits_split["y"][:100], digits_split["y_test"][:100]])
    member = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    result = loss_threshold(gateway_target(gw.url, k1, version), x, y, member)
    assert result.queries == 200
    assert first_alert(gw.app, PROBING) is None
    rng = np.random.default_rng(3)
    record = digits_split["x"][5]
    near = np.clip(record + rng.normal(0, 0.01, (40, 64)), 0, 1)
    with httpx.Client(base_url=gw.url, timeout=10,
                      headers={"Authorization": f"Bearer {k2}"}) as c:
        for i in range(0, 40, 4):
            assert c.post("/v2/models/digits/infer", json=oip(near[i:i + 4])).status_code == 200
    alert = first_alert(gw.app, PROBING)
    assert alert is not None and alert.kind == "membership-probing"
    assert alert.atlas == "AML.T0024.000" and alert.info["rows_seen"] <= 16
