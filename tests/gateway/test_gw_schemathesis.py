"""Schemathesis against the live gateway's /openapi.json: whatever it generates from the
document (valid and invalid bodies for every route), the gateway never answers with a 5xx;
for an array model (digits) and for a table model served by named, typed columns."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from tests.gateway.test_gw_table import credit  # noqa: F401 - the table model's fixture


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error(gated: Any, serve: Any, key: Any, mode: GenerationMode) -> None:
    k = key("fuzz", scopes=("infer:digits", "metrics"), rate="1000000/minute",
            budget="100000000/day", output="full")
    gw = serve(auth_fail_rate="1000000/minute", global_rate="1000000/second")
    seen = _fuzz(gw.url, k, mode)
    assert (200 in seen) == (mode == GenerationMode.POSITIVE)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_on_a_table_model(credit: Any, serve: Any, key: Any,  # noqa: F811
                                          mode: GenerationMode) -> None:
    k = key("fuzz", scopes=("infer:credit", "metrics"), rate="1000000/minute",
            budget="100000000/day", output="full")
    gw = serve("credit@1", auth_fail_rate="1000000/minute", global_rate="1000000/second")
    doc = httpx.get(gw.url + "/openapi.json", timeout=10).json()
    body = doc["paths"]["/v2/models/credit/infer"]["post"]["requestBody"]
    columns = body["content"]["application/json"]["schema"]["properties"]["inputs"]
    assert [c["properties"]["name"]["const"] for c in columns["prefixItems"]] == [
        "age", "income", "debt_ratio", "region"]  # the fuzzer works from the named columns
    seen = _fuzz(gw.url, k, mode, infer="/v2/models/credit/infer")
    assert (200 in seen) == (mode == GenerationMode.POSITIVE)


def _fuzz(url: str, k: str, mode: GenerationMode, infer: str = "") -> set[int]:
    """Every generated case, with the key and without: the status codes seen (none 5xx);
    ``infer``: the infer routes must have been fuzzed with the key and answered 4xx."""
    api = schemathesis.openapi.from_url(url + "/openapi.json", timeout=10)
    seen: set[int] = set()
    infer_codes: set[int] = set()

    @given(api.as_strategy(mode))
    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        for headers in ({"X-API-Key": k}, {}):
            r = case.call_and_validate(base_url=url, headers=headers,
                                       checks=[not_a_server_error], timeout=10)
            seen.add(r.status_code)
            if infer and case.path.endswith("/infer") and headers:
                infer_codes.add(r.status_code)

    run()
    assert seen and all(code < 500 for code in seen)
    if infer:
        assert infer_codes and any(400 <= c < 500 for c in infer_codes), infer_codes
    return seen
