"""``cpmap scan images``: Dockerfiles, compose, Kubernetes; pinning, latest, allowlist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.errors import InputError
from cpmap.supplychain.imagerefs import ImageUse, dockerfile_uses, yaml_uses
from cpmap.supplychain.images import AllowRule, allowlist, check, parse_ref, scan

from .clirun import Cli, make_cli

ASSETS = Path(__file__).parents[1] / "assets" / "images"
DIGEST = "sha256:" + "a" * 64


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)  # no workspace found upwards unless a test passes -w
    return make_cli(capsys)


def rules_of(report_findings: object) -> set[tuple[str, str]]:
    return {(f.rule_id, f.properties["image"]) for f in report_findings}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("ref", "registry", "repo", "tag", "digest"), [
    ("python", "docker.io", "library/python", None, None),
    ("python:3.11-slim", "docker.io", "library/python", "3.11-slim", None),
    ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
    ("localhost:5000/team/app:1@" + DIGEST, "localhost:5000", "team/app", "1", DIGEST),
    ("gcr.io/distroless/base@" + DIGEST, "gcr.io", "distroless/base", None, DIGEST),
])
def test_parse_ref(ref: str, registry: str, repo: str, tag: str | None,
                   digest: str | None) -> None:
    parsed = parse_ref(ref)
    assert parsed is not None
    assert (parsed.registry, parsed.repository, parsed.tag, parsed.digest) == (
        registry, repo, tag, digest)


def test_dockerfile_stages_args_and_copy_from() -> None:
    uses = dockerfile_uses((ASSETS / "Dockerfile.multistage").read_text(), "Dockerfile")
    assert [(u.ref, u.line, u.context, u.unresolved) for u in uses] == [
        ("python:3.11-slim", 4, "FROM", False),
        ("gcr.io/distroless/python3-debian12@" + DIGEST, 8, "FROM", False),
        ("busybox:1.36", 10, "COPY --from", False),
        ("${BASE}", 11, "FROM", True),
    ]  # "FROM build" is a stage, "COPY --from=build" too, scratch is no image


def test_compose_and_multi_document_kubernetes() -> None:
    compose = yaml_uses((ASSETS / "docker-compose.yml").read_text(), "c.yml")
    assert [(u.ref, u.line) for u in compose] == [("ghcr.io/acme/api:1.4.2@" + DIGEST, 3),
                                                  ("redis:latest", 5)]
    k8s = yaml_uses((ASSETS / "k8s-deployment.yaml").read_text(), "k.yaml")
    assert [(u.ref, u.line, u.context) for u in k8s] == [
        ("ghcr.io/acme/migrate:2.0", 17, "Deployment/api initContainer migrate"),
        ("ghcr.io/acme/api:1.4.2@" + DIGEST, 20, "Deployment/api container app"),
        ("envoyproxy/envoy", 22, "Deployment/api container sidecar"),
    ]  # the ConfigMap's data.image is not a container


def test_yaml_alias_bomb_is_walked_once() -> None:
    bomb = "apiVersion: v1\nkind: Pod\nspec:\n  a: &a [{containers: [{image: x:1}]}]\n"
    bomb += "".join(f"  b{i}: &b{i} [*{'a' if i == 0 else f'b{i - 1}'}, "
                    f"*{'a' if i == 0 else f'b{i - 1}'}]\n" for i in range(40))
    assert [u.ref for u in yaml_uses(bomb, "bomb.yaml")] == ["x:1"]


def test_yaml_refuses_python_tags() -> None:
    with pytest.raises(InputError, match="not valid YAML"):
        yaml_uses("!!python/object/apply:os.system ['true']\n", "evil.yaml")


def test_scan_tree_findings() -> None:
    report = scan(ASSETS)
    got = rules_of(report.findings)
    assert ("CP3-IMG-LATEST", "ubuntu") in got and ("CP3-IMG-LATEST", "nginx:latest") in got
    assert ("CP3-IMG-LATEST", "redis:latest") in got
    assert ("CP3-IMG-LATEST", "envoyproxy/envoy") in got
    assert ("CP3-IMG-UNPINNED", "python:3.11-slim") in got
    assert ("CP3-IMG-UNRESOLVED", "${BASE}") in got
    assert not any(image.endswith(DIGEST) for _, image in got)
    assert [s.path.endswith("broken.yaml") for s in report.skipped] == [True]


def test_allowlist_patterns_and_digests() -> None:
    rules = allowlist(["gcr.io/distroless/*",
                       {"pattern": "python:3.11-slim*", "digests": [DIGEST]}])
    pinned = ImageUse(f"python:3.11-slim@{DIGEST}", "D", 1, "FROM")
    assert check(pinned, rules) == []
    other = ImageUse("python:3.11-slim@sha256:" + "b" * 64, "D", 1, "FROM")
    assert [f.rule_id for f in check(other, rules)] == ["CP3-IMG-DIGEST"]
    stray = ImageUse(f"evil.io/miner:1@{DIGEST}", "D", 1, "FROM")
    assert [f.rule_id for f in check(stray, rules)] == ["CP3-IMG-NOT-ALLOWED"]
    normalized = AllowRule("docker.io/library/python:*")
    assert normalized.matches("python:3.12", parse_ref("python:3.12"))  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["not a list", [{"digests": []}],
                                 [{"pattern": "x", "digests": ["md5:abc"]}]])
def test_bad_allowlist_is_input_error(bad: object) -> None:
    with pytest.raises(InputError):
        allowlist(bad)


def test_cli_exit_codes_json_and_evidence(cli: Cli, ws: Workspace, tmp_path: Path) -> None:
    clean = tmp_path / "Dockerfile"
    clean.write_text(f"FROM python:3.11-slim@{DIGEST}\n")
    code, out, _ = cli("scan", "images", str(clean), "-f", "json", "-w", str(ws.root))
    assert code == 0 and json.loads(out)["findings"] == []
    code, out, _ = cli("scan", "images", str(ASSETS), "-f", "sarif", "-w", str(ws.root))
    assert code == 1 and json.loads(out)["runs"][0]["results"]
    verdicts = [e.predicate["verdict"] for e in Ledger(ws).entries(control="CP3")]
    assert verdicts == ["pass", "fail"]


def test_cli_allowlist_from_workspace(cli: Cli, ws: Workspace, tmp_path: Path) -> None:
    toml = ws.dir / "cpmap.toml"
    toml.write_text(toml.read_text() + f'\n[images]\nallow = [{{ pattern = "python:3.11-*", '
                    f'digests = ["{DIGEST}"] }}]\n')
    (tmp_path / "Dockerfile").write_text(f"FROM python:3.11-slim@{DIGEST}\nFROM node:20@{DIGEST}\n")
    code, out, _ = cli("scan", "images", str(tmp_path / "Dockerfile"), "-f", "json",
                       "-w", str(ws.root))
    doc = json.loads(out)
    assert code == 1
    assert [(i["image"].split("@")[0], i["rules"]) for i in doc["images"]] == [
        ("python:3.11-slim", []), ("node:20", ["CP3-IMG-NOT-ALLOWED"])]


def test_cli_bad_input(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("scan", "images", str(tmp_path / "missing"))
    assert code == 2 and "no such file" in err
    (tmp_path / "bad.yaml").write_text("a: [\n")
    code, _, err = cli("scan", "images", str(tmp_path / "bad.yaml"))
    assert code == 2 and "bad.yaml" in err


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_dockerfile_parser_never_crashes(text: str) -> None:
    for use in dockerfile_uses(text, "fuzz"):
        check(use, [AllowRule("*")])


def test_cli_table_goes_to_output_not_stdout(cli: Cli, tmp_path: Path) -> None:
    out_file = tmp_path / "out dir" / "images.txt"
    code, out, err = cli("scan", "images", str(ASSETS), "-o", str(out_file))
    assert code == 1 and out == "" and f"wrote {out_file}" in err
    assert "CP3-IMG-" in out_file.read_text()


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_dockerfile_is_not_read(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "Dockerfile")  # reading it would block the scan forever
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Dockerfile").write_text(f"FROM python:3.11@{DIGEST}\n")
    report = scan(tmp_path)
    assert [u.ref for u in report.uses] == [f"python:3.11@{DIGEST}"]


@pytest.mark.parametrize("digests", [5, f"{DIGEST}", {"a": 1}])
def test_allowlist_digests_that_are_not_a_list_are_input_errors(digests: object) -> None:
    with pytest.raises(InputError, match=r"allow\[0\]: digests must be a list"):
        allowlist([{"pattern": "python:*", "digests": digests}])


@pytest.mark.parametrize("ref", ["python:3.11@sha256:zz", "python@md5:abc", "python:3.11@"])
def test_a_malformed_digest_is_invalid_not_pinned(tmp_path: Path, ref: str) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {ref}\n")
    report = scan(tmp_path / "Dockerfile")
    assert report.metrics()["pinned"] == 0
    assert [f.rule_id for f in report.findings] == ["CP3-IMG-INVALID"]
