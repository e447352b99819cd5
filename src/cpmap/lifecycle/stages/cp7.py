"""CP7 stage: staging deploy, attack it, promote, serve production, show the controls.

It needs CP6's ``registry_model``: the version CP6 left in ``staging`` is served on a free
127.0.0.1 port and attacked with ``cpmap gateway check`` (CP7 evidence about its digest); the
gate then lets it into production, which is served JPEG-only and sent legitimate traffic, no
key (401), a wrong scope (403), a PNG (415), a decompression bomb (413), a rate-limit hit (429
with Retry-After) and an extraction attempt until its query budget stops it. Every gateway is
stopped before the stage returns.
"""

from __future__ import annotations

import io
from typing import Any

from cpmap.lifecycle.artifacts import Artifacts
from cpmap.lifecycle.context import Context, StageResult


def _png(size: int = 8) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (size, size), 128).save(buf, format="PNG")
    return buf.getvalue()


def run(ctx: Context) -> StageResult:
    from cpmap.errors import Error

    name = ctx.artifacts.registry_model  # CP6 made it
    try:
        lines, ok, made = _run(ctx, name)
    except Error as e:
        return StageResult("CP7", False, (f"gateway stage failed: {e.diagnostics()}",))
    return StageResult("CP7", ok, tuple(lines), made=made)


def _run(ctx: Context, name: str) -> tuple[list[str], bool, Artifacts]:
    from cpmap.gateway import build, run_in_thread
    from cpmap.gateway.check import run as check
    from cpmap.gateway.config import load
    from cpmap.registry.stages import promote
    from cpmap.registry.versions import get

    ws = ctx.ws
    candidate = get(ws, f"{name}@staging")
    lines = [f"{candidate.ref} is in staging (CP6); production needs a gateway check of it"]
    staging = run_in_thread(build(ws, f"{name}:staging", load(ws, key_refresh_s=0.2)))
    try:
        result = check(ws, name, staging.url)
    finally:
        staging.stop()
    good = sum(1 for r in result.results if r["ok"])
    lines.append(f"gateway check on staging ({staging.url}): {good}/{len(result.results)} "
                 f"attacks refused as expected (evidence #{result.entry})")
    lines.append(_baseline(ws, candidate.ref))
    lines.append(_golden(ctx, candidate.ref))
    promote(ws, candidate.ref)
    lines.append(f"promoted {candidate.ref} to production (the gate required that CP7, "
                 "CP8 and CP9 evidence)")
    cfg = load(ws, image_formats=("JPEG",), key_refresh_s=0.2)
    prod = run_in_thread(build(ws, name, cfg))
    try:
        more, shown = _show(ws, prod, name)
    finally:
        prod.stop()
    lines += [*more, "gateway stopped"]
    made = Artifacts(gateway_check=result.to_dict(), gateway_counts=shown)
    return lines, result.passed and bool(shown.get("ok", False)), made


def _golden(ctx: Context, ref: str) -> str:
    """CP9: production needs a passing, recent golden-set run of the version. One that cannot
    be made here is said (the gate then names what is missing, or finds an earlier run)."""
    from cpmap.errors import Error
    from cpmap.lifecycle.stages.cp9 import golden_run

    try:
        g = golden_run(ctx, ref)
    except Error as e:
        return f"no CP9 golden-set run made: {e.message}"
    return (f"CP9 golden set {g.golden}: accuracy {g.accuracy:.3f} -> "
            f"{'pass' if g.passed else 'FAIL'} (#{g.entry})")


def _baseline(ws: Any, ref: str) -> str:
    """CP8: production needs the version's input baseline, built from its lineage."""
    from cpmap.monitor.baseline import BaselineError, build

    try:
        base = build(ws, ref)[0]
    except BaselineError as e:
        return f"no CP8 baseline built: {e.message}"
    return f"CP8 input baseline of {ref} from its lineage (#{base.entry})"


def _show(ws: Any, prod: Any, name: str) -> tuple[list[str], dict[str, Any]]:
    import httpx

    from cpmap.errors import Error
    from cpmap.gateway.keys import create
    from cpmap.gateway.probes import jpeg, rows
    from cpmap.lifecycle.data import held_out

    app = prod.app
    dim = app.served.spec.dim
    try:  # the legitimate client sends held-out test rows of the version's training data
        natural = held_out(ws, name)
    except Error:  # a version whose lineage data is not loadable rows: neutral probe rows
        natural = None
    if natural is not None and natural.shape[1:] != (dim,):
        natural = None

    def digits(n: int, at: int = 0) -> dict[str, Any]:
        if natural is None:
            return rows(dim, n)
        x = natural[at:at + n]
        return {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                            "data": x.ravel().tolist()}]}

    good = create(ws, "demo-client", [f"infer:{name}"], "5/minute")[0]
    other = create(ws, "demo-other", ["infer:another-model"])[0]
    thief = create(ws, "demo-extractor", [f"infer:{name}"], "100000/minute")[0]
    app.keyring.load(ws)
    url = f"/v2/models/{name}/infer"
    codes: dict[str, int] = {}
    with httpx.Client(base_url=prod.url, timeout=10) as c:
        def post(label: str, key: str | None, **kw: Any) -> httpx.Response:
            h = {"X-API-Key": key} if key else {}
            r = c.post(url, headers={**h, **kw.pop("headers", {})}, **kw)
            codes[label] = r.status_code
            return r

        r = post("legitimate", good, json=digits(2))
        what = "held-out test rows" if natural is not None else "probe rows"
        lines = [f"production {app.served.ref} on {prod.url}: legitimate request ({what}) -> "
                 f"{r.status_code}, outputs {[o['name'] for o in r.json()['outputs']]} "
                 f"(policy {app.plan.default_output})",
                 f"no key -> {post('no-key', None, json=rows(dim)).status_code}",
                 f"wrong scope -> {post('wrong-scope', other, json=rows(dim)).status_code}"]
        if app.served.spec.image_shape is not None:
            lines += [f"JPEG -> {post('jpeg', good, content=jpeg(), headers={'Content-Type': 'image/jpeg'}).status_code}",  # noqa: E501
                      f"PNG to a JPEG-only model -> {post('png', good, content=_png(), headers={'Content-Type': 'image/png'}).status_code}",  # noqa: E501
                      f"JPEG decompression bomb (50000x50000 header) -> {post('bomb', good, content=jpeg(50_000, 50_000), headers={'Content-Type': 'image/jpeg'}).status_code}"]  # noqa: E501
        for i in range(5):
            last = post("rate", good, json=digits(1, 2 + i))
        lines.append(f"rate limit 5/minute exceeded -> {last.status_code}, Retry-After "
                     f"{last.headers.get('retry-after')}")
        answered = 0
        for _ in range(1000):
            r = post("extraction", thief, json=rows(dim, 64))
            if r.status_code != 200:
                break
            answered += 64
        error = str(r.json().get("error", ""))
        who = ("its query budget" if "budget" in error else "its rate limit" if "rate limit"
               in error else "CP8's probing throttle, before its query budget"
               if app.monitor is not None and r.status_code == 429 else "the gateway")
        lines.append(f"extraction attempt (constant probe rows): {answered} queries answered, "
                     f"then {r.status_code} ({error}): stopped by {who}; budget "
                     f"{app.plan.default_queries}/{app.plan.window}: {app.plan.reason}")
    counts = app.metrics.counts()
    lines.append(f"requests {counts['requests']:.0f}, refused {counts['refused']:.0f}")
    ok = (codes.get("legitimate") == 200 and codes.get("no-key") == 401
          and codes.get("wrong-scope") == 403 and codes.get("rate") == 429
          and codes.get("extraction") in (429, 403))
    return lines, {**codes, **counts, "answered_before_budget": answered, "ok": ok}
