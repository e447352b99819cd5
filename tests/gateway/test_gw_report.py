"""The report's CP7 cell: the gateway's configuration, the check's result, and the traffic
and refusals the prediction log recorded, each from a typed predicate field."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import rows


def test_the_cp7_cell_shows_configuration_check_and_traffic(ws: Any, gated: Any, serve: Any,
                                                            key: Any) -> None:
    from cpmap.formats.report import build_version_map, render

    token = key(output="full", budget="100000/day")
    gw = serve()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        h = {"Authorization": f"Bearer {token}"}
        for n in (1, 2, 3):
            assert c.post("/v2/models/digits/infer", json=rows(n), headers=h).status_code == 200
        assert c.post("/v2/models/digits/infer", json=rows()).status_code == 401
        assert c.post("/v2/models/digits/infer", json=rows(value=9.0),
                      headers=h).status_code == 400
    gw.stop()  # flushes the prediction log into the ledger
    model = build_version_map(ws, "digits@1")
    (cell,) = [c for c in model.cells if c.control.id == "CP7"]
    views = {v.kind: v for v in cell.kinds}
    traffic = views["gateway-predictions"]
    assert traffic.metrics["requests_total"] == 5 and traffic.metrics["refused_total"] == 2
    assert traffic.metrics["rows_total"] == 6
    line = traffic.highlights[0]
    assert "5 infer request(s), 3 answered (6 rows), 2 refused" in line
    assert "401 no-credentials: 1" in line and "400 out-of-range: 1" in line
    config = views["gateway-serve"].highlights[1]
    assert config.startswith("limits in memory") and "batch <= 64" in config
    assert "gateway-check" in views
    html = render(model)
    assert "2 refused" in html and "limits in memory" in html
