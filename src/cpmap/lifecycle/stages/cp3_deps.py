"""CP3 stage: dependencies against the bundled OSV sample, ML-BOM, images, data access.

The demo project pins a few real packages (two with real advisories in the bundled OSV
sample), ships a Dockerfile with one vetted and one unvetted base image, and gets an access
policy in which one role is over-broad. Each scanner records its CP3 evidence; the stage is ok
when every scanner caught what was planted and nothing else. The access check reads the raw
and the de-duplicated customer tables CP1 registered.
"""

from __future__ import annotations

import hashlib
import sys

from cpmap.core.evidence import Subject
from cpmap.lifecycle.artifacts import Artifacts
from cpmap.lifecycle.context import Context, StageResult
from cpmap.lifecycle.project import add_policy, write_once
from cpmap.provenance.datasets import DatasetVersion

REQUIREMENTS = """\
# demo project dependencies
requests==2.28.1
urllib3==1.26.5
jinja2==3.1.4
pyyaml==6.0.1
numpy>=1.26
"""
VETTED = "sha256:" + hashlib.sha256(b"cpmap demo: vetted distroless build").hexdigest()
DOCKERFILE = f"""\
FROM python:3.11-slim AS build
COPY requirements.txt .
RUN pip install --no-cache-dir --target /app -r requirements.txt
FROM gcr.io/distroless/python3-debian12@{VETTED}
COPY --from=build /app /app
"""
POLICY = f"""
[images]
allow = [{{ pattern = "gcr.io/distroless/*", digests = ["{VETTED}"] }}]

[access]
raw = ["customers", "digits"]

[access.principals]
demo-trainer = ["trainer"]
analyst = ["analyst"]
etl-bot = ["etl"]

[access.roles.trainer]
grants = [{{ datasets = ["customers-clean", "digits"], actions = ["read"] }}]

[access.roles.analyst]
grants = [{{ datasets = ["customers-clean"], actions = ["read"], columns = ["age", "zip"] }}]

[access.roles.etl]
grants = [{{ datasets = ["*"], actions = ["read", "write"] }}]
"""


def _deps(ctx: Context) -> tuple[bool, list[str]]:
    from cpmap.supplychain import deps
    from cpmap.supplychain.osvdb import SAMPLE_DB, OfflineDatabase
    from cpmap.supplychain.reqsource import parse_requirements

    req = write_once(ctx.workdir / "requirements.txt", REQUIREMENTS)
    inputs = parse_requirements(req)
    report = deps.scan(inputs, OfflineDatabase(SAMPLE_DB, [p.name for p in inputs.pins]))
    subject = Subject("file:requirements.txt", hashlib.sha256(req.read_bytes()).hexdigest())
    deps.record_evidence(report, [subject], ctx.ws)
    vulnerable = {d.name for d in report.vulnerable}
    lines = deps.highlights(report)
    lines += [f"  skipped {s.name}: {s.reason}" for s in report.skipped]
    return vulnerable == {"requests", "urllib3"} and len(report.skipped) == 1, lines


def _sbom(ctx: Context) -> tuple[bool, list[str], Artifacts]:
    from cpmap.supplychain import bomsources, reqsource, sbom

    dists = reqsource.environment(sys.executable)
    datasets = bomsources.workspace_datasets(ctx.ws, [])
    models = bomsources.workspace_models(ctx.ws, [])
    result = sbom.generate(ctx.ws.name, dists, datasets, models)
    path = ctx.workdir / "bom.cdx.json"
    path.write_text(result.text)
    sbom.record_evidence(result, ctx.ws, "sbom:bom.cdx.json")
    return result.datasets == len(datasets) > 0, [
        f"ML-BOM {path.name}: CycloneDX 1.6, schema-valid, {result.packages} packages, "
        f"{result.datasets} datasets, {result.models} models"], Artifacts(sbom=path)


def _images(ctx: Context) -> tuple[bool, list[str]]:
    from cpmap.supplychain import images

    dockerfile = write_once(ctx.workdir / "Dockerfile", DOCKERFILE)
    rules = images.allowlist(ctx.ws.setting("images", "allow"))
    report = images.scan(dockerfile, rules)
    images.record_evidence(report, ctx.ws)
    found = {(f.rule_id, f.properties.get("image")) for f in report.findings}
    lines = [f"images: {len(report.uses)} in Dockerfile, {report.metrics()['pinned']} pinned"]
    lines += [f"  {f.location}: {f.rule_id} {f.properties.get('image')}"
              for f in report.findings]
    expected = {("CP3-IMG-UNPINNED", "python:3.11-slim"),
                ("CP3-IMG-NOT-ALLOWED", "python:3.11-slim")}
    return found == expected, lines


def _access(ctx: Context, clean: DatasetVersion, raw: DatasetVersion) -> tuple[bool, list[str]]:
    """The trainer may read the de-duplicated table, not the raw one; the policy is reviewed."""
    from cpmap.provenance.datasets import open_dataset
    from cpmap.supplychain import access

    ws = ctx.ws
    open_dataset(clean.name, ws, principal="demo-trainer", purpose="training")
    try:
        open_dataset(raw.name, ws, principal="demo-trainer", purpose="training")
        denied = False
    except access.AccessDenied:
        denied = True
    policy = access.workspace_policy(ws)
    findings = access.review(policy, access.raw_datasets(ws), access.ledger_principals(ws))
    access.record_review(ws, policy, findings)
    rules = {f.rule_id for f in findings}
    lines = [f"access: demo-trainer read {clean.name} allowed; read raw {raw.name} "
             f"{'denied and recorded' if denied else 'ALLOWED'}"]
    lines += [f"  review: {f.rule_id} {f.message}" for f in findings]
    ok = denied and {"CP3-ACCESS-WILDCARD", "CP3-ACCESS-RAW-WRITE"} <= rules
    return ok, lines


def run(ctx: Context) -> StageResult:
    clean, raw = ctx.artifacts.customers_clean, ctx.artifacts.customers  # before changing a thing
    add_policy(ctx.ws, POLICY, "[access]")
    deps_ok, lines = _deps(ctx)
    sbom_ok, sbom_lines, made = _sbom(ctx)
    images_ok, image_lines = _images(ctx)
    access_ok, access_lines = _access(ctx, clean, raw)
    ok = deps_ok and sbom_ok and images_ok and access_ok
    return StageResult("CP3", ok, tuple(lines + sbom_lines + image_lines + access_lines),
                       made=made)
