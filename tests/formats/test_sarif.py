"""SARIF that GitHub code scanning accepts: file URIs only, rule texts that belong to the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpmap.core.findings import Finding, Location, Severity
from cpmap.formats.sarif import file_uri, to_sarif
from cpmap.formats.sarif_rules import describe
from cpmap.redteam.rules import RULES as REDTEAM
from cpmap.supplychain.secrets.rules import RULES as SECRETS

from .sarif_check import problems


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n")
    (tmp_path / "my dir").mkdir()
    (tmp_path / "my dir" / "data.csv").write_text("a\n")
    monkeypatch.chdir(tmp_path / "src")
    return tmp_path


@pytest.mark.parametrize(("path", "expected"), [
    ("app.py", ("src/app.py", "%SRCROOT%")),  # relative to cwd, made relative to the repo
    ("../my dir/data.csv", ("my%20dir/data.csv", "%SRCROOT%")),
    ("model:digits@2", None),
    ("sha256:" + "ab" * 32, None),
    ("https://example.invalid/v2/models/x/infer", None),
    ("model", None),
    ("", None),
    (".", None),
])
def test_file_uri(repo: Path, path: str, expected: tuple[str, str] | None) -> None:
    assert file_uri(path, repo) == expected


def test_outside_the_repo_is_a_file_uri(repo: Path, tmp_path_factory: pytest.TempPathFactory
                                        ) -> None:
    other = tmp_path_factory.mktemp("elsewhere") / "x.pkl"
    other.write_bytes(b".")
    uri, base = file_uri(str(other), repo) or ("", "")
    assert uri.startswith("file:///") and base is None


def _sample() -> list[Finding]:
    return [
        Finding("CP3-DEP-VULN", Severity.HIGH, "requests 2.0 has PYSEC-1", Location(
            "requirements.txt", 3, field="requests"), "upgrade requests to 2.31.0"),
        Finding("CP3-DEP-VULN", Severity.CRITICAL, "urllib3 1.0 has PYSEC-2", Location(
            "requirements.txt", 4, field="urllib3"), "upgrade urllib3 to 2.0.7"),
        Finding("cpmap.gate.CP4", Severity.HIGH, "digits@2: robust accuracy 0.1 < 0.5",
                Location("model:digits@2", field="CP4"), "train adversarially"),
        Finding("CP5-FUZZ-HTTP5XX", Severity.HIGH, "500 on malformed input",
                Location("http://127.0.0.1:9/v2/models/m/infer")),
        Finding("CP4-LOW-ROBUSTNESS", Severity.HIGH, "robust accuracy 0.1", Location("model")),
        Finding("model/global-malicious", Severity.CRITICAL, "posix.system",
                Location("src/app.py", field="opcode 12")),
        Finding("CP2-PII-EMAIL", Severity.MEDIUM, "EMAIL", Location("../my dir/data.csv",
                                                                     field="email")),
        Finding("secret/github-pat", Severity.HIGH, "GitHub token", Location("app.py", 1, 5)),
        Finding("CP1-INTEGRITY", Severity.CRITICAL, "changed", Location()),
    ]


def test_log_is_valid_and_github_ready(repo: Path) -> None:
    log = to_sarif(_sample())
    assert problems(log) == []
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in log["runs"][0]["results"]]
    assert uris[0] == "requirements.txt" or uris[0].endswith("src/requirements.txt")
    assert not any(u.startswith(("model:", "http")) for u in uris)


def test_model_reference_kept_as_logical_location(repo: Path) -> None:
    gate = to_sarif(_sample(), anchor=".cpmap/cpmap.toml")["runs"][0]["results"][2]
    loc = gate["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"] == {"uri": ".cpmap/cpmap.toml",
                                                           "uriBaseId": "%SRCROOT%"}
    assert {"name": "model:digits@2"} in loc["logicalLocations"]
    assert gate["properties"]["subject"] == "model:digits@2"


def test_rule_help_belongs_to_the_rule_not_a_result(repo: Path) -> None:
    run = to_sarif(_sample())["runs"][0]
    (vuln,) = [r for r in run["tool"]["driver"]["rules"] if r["id"] == "CP3-DEP-VULN"]
    assert "requests" not in vuln["help"]["text"] and "urllib3" not in vuln["help"]["text"]
    assert vuln["properties"]["security-severity"] == "9.5"  # the worst of its results
    fixes = [r["properties"]["remediation"] for r in run["results"][:2]]
    assert fixes == ["upgrade requests to 2.31.0", "upgrade urllib3 to 2.0.7"]


def test_every_catalogued_rule_has_its_own_texts() -> None:
    ids = [*REDTEAM, *(f"secret/{r.id}" for r in SECRETS[:40]), "CP3-DEP-VULN",
           "CP1-UNTRUSTED-SIGNATURE", "CP3-IMG-LATEST", "CP4-MASK-STEPS", "CP2-PII-IBAN_CODE",
           "model/frame-straddle", "cpmap.gate.CP6", "CP7-GATEWAY-AUTH"]
    for rule_id in ids:
        text = describe(rule_id)
        assert text.short and text.full and text.help, rule_id
        assert text.help_uri.startswith("https://"), rule_id
        assert "check (" not in text.full, f"{rule_id} fell back to the generic text"
    assert describe("CP9-SOMETHING-NEW").full  # an undescribed rule still gets texts


def test_empty_log_is_valid(repo: Path) -> None:
    log = to_sarif([])
    assert problems(log) == [] and log["runs"][0]["results"] == []
