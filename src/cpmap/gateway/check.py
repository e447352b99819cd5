"""``cpmap gateway check``: attack a running gateway and record what it let through (CP7).

The check creates short-lived API keys of its own in the workspace (a running gateway picks
them up within ``key_refresh_s``): one to probe with, one with a tiny rate, one with a tiny
budget, one for another model, one revoked. It sends every :mod:`~cpmap.gateway.probes` case,
then exhausts the rate and the budget, checks the default output policy against the one the
gateway recorded for the version, and checks every answer for security headers and leaks.
Its keys are revoked at the end. Evidence ``gateway-check`` is about the served digest.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.gateway import evidence as ev
from cpmap.gateway import keys as gk
from cpmap.gateway.errors import GatewayError
from cpmap.gateway.probes import Contract, Probe, probes
from cpmap.redteam.predicates import RedteamCampaign

if TYPE_CHECKING:
    import httpx

    from cpmap.core.workspace import Workspace

LEAK = re.compile(r"Traceback|File \"|/usr/|/home/|site-packages|\.py\b|uvicorn|starlette")
REQUIRED_HEADERS = ("x-content-type-options", "cache-control", "x-request-id")


@dataclass(frozen=True)
class CheckResult:
    model: str
    version: int
    digest: str
    url: str
    results: tuple[dict[str, Any], ...]
    entry: int | None = None

    @property
    def passed(self) -> bool:
        return all(r["ok"] for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "digest": self.digest,
                "url": self.url, "passed": self.passed, "ledger_entry": self.entry,
                "checks": list(self.results)}


class _Keys:
    """The check's own keys; revoked when the check ends."""

    def __init__(self, ws: Workspace, name: str) -> None:
        self.ws, self.tag = ws, f"gateway-check-{secrets.token_hex(4)}"
        scope = [f"infer:{name}"]
        # revoked first: a gateway that knows any later key (the check waits for the probe
        # key) has read a snapshot with the revocation in it, so the revoked probe cannot
        # race the gateway's key refresh
        self.revoked = self._make("revoked", scope, "1000/minute", "")
        gk.revoke(ws, f"{self.tag}-revoked")
        self.good = self._make("probe", scope, "1000/minute", "1000000/day")
        self.rate = self._make("rate", scope, "3/minute", "1000000/day")
        self.budget = self._make("budget", scope, "1000/minute", "5/day")
        self.default = self._make("default", scope, "1000/minute", "1000000/day", output="")
        # the version's default output and budget: what any client without overrides gets
        self.attacker = self._make("attacker", scope, "100000/minute", "", output="")
        self.scope = self._make("scope", [f"infer:{name}-other"], "1000/minute", "")

    def _make(self, role: str, scope: list[str], rate: str, budget: str,
              output: str = "full") -> str:
        return gk.create(self.ws, f"{self.tag}-{role}", scope, rate, budget, output)[0]

    def close(self) -> None:
        for role in ("probe", "rate", "budget", "default", "attacker", "scope"):
            gk.revoke(self.ws, f"{self.tag}-{role}")


def _headers(probe: Probe, keys: _Keys) -> dict[str, str]:
    h = {"Content-Type": probe.content_type, **probe.headers}
    token = {"good": keys.good, "forged": "cpk_" + secrets.token_hex(8) + "_" +
             secrets.token_urlsafe(32), "revoked": keys.revoked, "scope": keys.scope}.get(
        probe.auth)
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


def _judge(name: str, expect: tuple[int, ...], r: httpx.Response,
           extra: Callable[[httpx.Response], str | None] | None = None) -> dict[str, Any]:
    problems = []
    if r.status_code not in expect:
        problems.append(f"status {r.status_code}, expected {'/'.join(map(str, expect))}")
    missing = [h for h in REQUIRED_HEADERS if h not in r.headers]
    if missing:
        problems.append(f"missing headers {', '.join(missing)}")
    if LEAK.search(r.text[:4000]) or "server" in r.headers:
        problems.append("response reveals internals (path, traceback or server software)")
    if r.status_code >= 400:
        try:
            body = r.json()
            if not (isinstance(body, dict) and isinstance(body.get("error"), str)):
                problems.append("error body is not {\"error\": ...}")
        except ValueError:
            problems.append("error body is not JSON")
    if extra is not None and (p := extra(r)):
        problems.append(p)
    return {"check": name, "expected": list(expect), "status": r.status_code,
            "ok": not problems, "problems": problems}


def _wait_for_key(client: httpx.Client, path: str, key: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(path, headers={"Authorization": f"Bearer {key}"})
        if r.status_code != 401:
            return
        time.sleep(0.5)
    raise GatewayError(f"{client.base_url}: the gateway did not accept the check's key "
                       f"within {timeout:g} s (is it serving this workspace?)")


def run(ws: Workspace, name: str, url: str, timeout: float = 10.0) -> CheckResult:
    import httpx

    keys = _Keys(ws, name)
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=timeout) as client:
            results, version = _attack(ws, client, name, keys)
    except httpx.TransportError as e:
        raise GatewayError(f"{url}: cannot reach the gateway ({type(e).__name__})") from e
    finally:
        keys.close()
    from cpmap.registry.versions import get

    mv = get(ws, f"{name}@{version}")
    findings = [Finding(f"CP7-GATEWAY-{r['check'].upper()}", Severity.HIGH,
                        f"{r['check']}: " + "; ".join(r["problems"]), Location(url),
                        remediation="serve through `cpmap serve` with its defaults")
                for r in results if not r["ok"]]
    result = CheckResult(name, version, mv.digest, url, tuple(results))
    entry = record(ev.check(mv.ref, mv.digest, result.passed, results, findings, url), ws)
    return CheckResult(name, version, mv.digest, url, tuple(results), entry.index)


def run_served(ws: Workspace, name: str, ref: str) -> CheckResult:
    """Serve ``ref`` as ``cpmap serve`` would (verified, gated, evidence recorded) on a free
    127.0.0.1 port, run the check against it, and stop it: a staging deploy in one step."""
    from cpmap.core.refs import Ref
    from cpmap.gateway.server import build, run_in_thread

    if Ref.parse(ref, aliases=True).name != name:
        raise GatewayError(f"--serve {ref}: not a version of {name}")
    running = run_in_thread(build(ws, ref))
    try:
        return run(ws, name, running.url)
    finally:
        running.stop()


def _attack(ws: Workspace, client: httpx.Client, name: str,
            keys: _Keys) -> tuple[list[dict[str, Any]], int]:
    import httpx

    meta_path, infer = f"/v2/models/{name}", f"/v2/models/{name}/infer"
    _wait_for_key(client, meta_path, keys.good)
    meta = client.get(meta_path, headers={"Authorization": f"Bearer {keys.good}"})
    if meta.status_code != 200:
        raise GatewayError(f"{client.base_url}: model {name!r} metadata answered "
                           f"{meta.status_code}")
    doc = meta.json()
    version = int(doc["versions"][0])
    contract = Contract.from_metadata(doc)
    image = "image/png" in str(client.get("/openapi.json").text)
    _wait_for_key(client, meta_path, keys.scope)  # scope key: 403 once known
    results = [_judge("legitimate-request", (200,), client.post(
        infer, json=contract.body(), headers={"Authorization": f"Bearer {keys.good}"}))]
    for p in probes(contract, image):
        try:
            r = client.request(p.method, infer, content=p.body or None,
                               headers=_headers(p, keys))
        except httpx.TransportError as e:  # a gateway that hangs or drops is a failure too
            results.append({"check": p.name, "expected": list(p.expect), "status": None,
                            "ok": False, "problems": [f"no answer ({type(e).__name__})"]})
            continue
        results.append(_judge(p.name, p.expect, r))
    results.append(_exhaust(client, infer, contract, keys.rate, "rate-limit", 1, (429,)))
    results.append(_exhaust(client, infer, contract, keys.budget, "query-budget", 5,
                            (429, 403)))
    results.append(_output(ws, client, infer, contract, keys.default, name, version))
    results.append(_extraction(ws, client, infer, keys, name, version))
    return results, version


def _exhaust(client: httpx.Client, path: str, contract: Contract, key: str, name: str, n: int,
             expect: tuple[int, ...]) -> dict[str, Any]:
    h = {"Authorization": f"Bearer {key}"}
    last = None
    for _ in range(20):
        last = client.post(path, json=contract.body(n=n), headers=h)
        if last.status_code != 200:
            break
    assert last is not None  # noqa: S101 - the loop runs at least once

    def headers(r: httpx.Response) -> str | None:
        if r.status_code == 429 and not ("retry-after" in r.headers
                                         and "ratelimit-policy" in r.headers):
            return "429 without Retry-After and RateLimit-Policy"
        return None

    return _judge(name, expect, last, headers)


def _output(ws: Workspace, client: httpx.Client, path: str, contract: Contract, key: str,
            name: str,
            version: int) -> dict[str, Any]:
    """The default output policy: what the gateway recorded for the version, and not full."""
    from cpmap.core.ledger import Ledger
    from cpmap.registry.versions import get

    digest = get(ws, f"{name}@{version}").digest
    chosen = [e.predicate["details"].get("default_output") for e in
              Ledger(ws).entries(digest=digest, kind="gateway-budget")]
    r = client.post(path, json=contract.body(), headers={"Authorization": f"Bearer {key}"})

    def policy(resp: httpx.Response) -> str | None:
        if resp.status_code != 200:
            return None
        names = [o.get("name") for o in resp.json().get("outputs", [])]
        want = chosen[-1] if chosen else None
        if want is None:
            return "no gateway-budget evidence for this version (served by cpmap serve?)"
        if want != "full" and "probabilities" in names and not str(want).startswith("rounded"):
            return f"default output is full probabilities; the recorded policy is {want}"
        return None

    return _judge("output-hardening", (200,), r, policy)


def _extraction(ws: Workspace, client: httpx.Client, path: str, keys: _Keys, name: str,
                version: int, max_queries: int = 2048) -> dict[str, Any]:
    """An extraction attack within the gateway's budget must stay below CP5's stolen mark."""
    from cpmap.gateway import extraction
    from cpmap.gateway.served import artifact_bytes, load_model, own_schema
    from cpmap.gateway.table import from_schema
    from cpmap.registry.versions import get

    mv = get(ws, f"{name}@{version}")
    model = load_model(ws, mv, artifact_bytes(ws, mv))
    schema = own_schema(mv)
    table = from_schema(schema, 0.0) if schema is not None else None
    threshold = _stolen_fidelity(ws, mv.digest)
    got = extraction.attack(ws, client, path, keys.attacker, model, max_queries, threshold,
                            table=table, data=_trained_on(mv))
    problems = []
    if got["fidelity"] >= threshold:
        problems.append(f"a surrogate trained on {got['answered']} answers agrees with the "
                        f"model on {got['fidelity']:.1%} of {got.get('eval_rows', 0)} rows "
                        f"(stolen at {threshold:.0%})")
    return {"check": "extraction-within-budget", "expected": [f"fidelity < {threshold:g}"],
            "status": got.get("refused_with") or 200, "ok": not problems,
            "problems": problems, "measured": got}


def _trained_on(mv: Any) -> str | None:
    """The dataset a user's own model was registered with (the attacker's natural pool)."""
    sets = (mv.lineage.training or {}).get("datasets") or []
    ref = sets[0].get("ref") if sets and isinstance(sets[0], dict) else None
    return str(ref) if ref else None


def _stolen_fidelity(ws: Workspace, digest: str) -> float:
    """The fidelity that the version's CP5 plan calls a stolen model (0.9 by default)."""
    from cpmap.gate.evidence import collect

    for item in reversed(collect(ws, [digest]).items):
        p = item.predicate
        plan = p.plan.get("extraction") if isinstance(p, RedteamCampaign) else None
        if isinstance(plan, dict) and isinstance(plan.get("fidelity_threshold"), int | float):
            return float(plan["fidelity_threshold"])
    return 0.9
