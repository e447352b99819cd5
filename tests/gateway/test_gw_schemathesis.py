"""Schemathesis against the live gateway's /openapi.json: whatever it generates from the
document (valid and invalid bodies for every route), the gateway never answers with a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error(gated: Any, serve: Any, key: Any, mode: GenerationMode) -> None:
    k = key("fuzz", scopes=("infer:digits", "metrics"), rate="1000000/minute",
            budget="100000000/day", output="full")
    gw = serve(auth_fail_rate="1000000/minute", global_rate="1000000/second")
    api = schemathesis.openapi.from_url(gw.url + "/openapi.json", timeout=10)
    seen: set[int] = set()

    @given(api.as_strategy(mode))
    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        for headers in ({"X-API-Key": k}, {}):
            r = case.call_and_validate(base_url=gw.url, headers=headers,
                                       checks=[not_a_server_error], timeout=10)
            seen.add(r.status_code)

    run()
    assert seen and all(code < 500 for code in seen)
    assert (200 in seen) == (mode == GenerationMode.POSITIVE)
