"""docs/deploy.md's examples hold together: the Kubernetes manifest is well-formed and matches
the gateway (its CLI options, health routes, settings), haproxy's config and the script parse."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "replicas"


def _docs() -> list[dict[str, Any]]:
    import yaml

    docs = [d for d in yaml.safe_load_all((EXAMPLES / "k8s.yaml").read_text()) if d]
    for d in docs:
        assert isinstance(d, dict)
        assert {"apiVersion", "kind", "metadata"} <= set(d), d.get("kind")
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", d["metadata"]["name"])
    return docs


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def test_manifest_objects_and_selectors() -> None:
    docs = _docs()
    assert sorted((d["apiVersion"], d["kind"]) for d in docs) == [
        ("apps/v1", "Deployment"), ("policy/v1", "PodDisruptionBudget"), ("v1", "Service")]
    dep, svc, pdb = (_one(docs, k) for k in ("Deployment", "Service", "PodDisruptionBudget"))
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert dep["spec"]["replicas"] >= 2 and pdb["spec"]["minAvailable"] < dep["spec"]["replicas"]


def test_container_ports_probes_and_args_match_the_gateway() -> None:
    from cpmap.cli.app import build

    dep = _one(_docs(), "Deployment")
    [c] = dep["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert _one(_docs(), "Service")["spec"]["ports"][0]["targetPort"] in ports
    for probe, path in (("readinessProbe", "/v2/health/ready"),
                        ("livenessProbe", "/v2/health/live")):
        assert c[probe]["httpGet"] == {"path": path, "port": "http"}
    routes = (ROOT / "src" / "cpmap" / "gateway" / "app.py").read_text()
    assert '"/v2/health/ready"' in routes and '"/v2/health/live"' in routes
    args = c["args"]
    assert args[0] == "serve" and c["command"] == ["cpmap"]
    serve = build("serve").commands["serve"]
    ctx = serve.make_context("serve", list(args[1:]), resilient_parsing=False)
    assert ctx.params["port"] == ports["http"] and ctx.params["host"] == "0.0.0.0"  # noqa: S104
    assert str(ctx.params["workspace"]) in {m["mountPath"] for m in c["volumeMounts"]}
    env = {e["name"] for e in c["env"]}
    assert env == {"CPMAP_DATABASE_URL", "CPMAP_REDIS_URL"}
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert all(name in deploy for name in env)
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_haproxy_config_and_script_parse(tmp_path: Path) -> None:
    cfg = (EXAMPLES / "haproxy.cfg").read_text()
    assert "option httpchk GET /v2/health/ready" in cfg
    r = subprocess.run(["bash", "-n", str(EXAMPLES / "run.sh")], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy not installed (apt-get install haproxy)")
    r = subprocess.run([haproxy, "-c", "-f", str(EXAMPLES / "haproxy.cfg")],
                       env={"LB_PORT": "18080", "PORT_A": "18081", "PORT_B": "18082"},
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
