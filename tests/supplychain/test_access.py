"""Least-privilege access: policy parsing, checks, enforcement in open_dataset, review."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace, open_workspace
from cpmap.errors import InputError
from cpmap.provenance.datasets import open_dataset, register_dataset
from cpmap.supplychain.access import AccessDenied, check, load_policy, review

from .clirun import Cli, make_cli

POLICY = Path(__file__).parents[1] / "assets" / "access" / "policy.toml"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)  # no workspace found upwards unless a test passes -w
    return make_cli(capsys)


@pytest.fixture
def policy_ws(ws: Workspace, tmp_path: Path) -> Workspace:
    """A workspace with the policy asset and two datasets: raw customers, redacted child."""
    toml = ws.dir / "cpmap.toml"
    toml.write_text(toml.read_text() + "\n" + POLICY.read_text())
    ws2 = open_workspace(ws.root)
    raw = tmp_path / "customers.csv"
    raw.write_text("name,age,zip\nAda,36,12345\n")
    red = tmp_path / "redacted.csv"
    red.write_text("age,zip\n36,12***\n")
    register_dataset(ws2, "customers", raw)
    parent = register_dataset(ws2, "customers", raw)
    register_dataset(ws2, "customers-redacted", red, parents=[parent.ref], transform="redact")
    return ws2


def policy() -> object:
    return load_policy(tomllib.loads(POLICY.read_text())["access"], "policy.toml")


@pytest.mark.parametrize(("principal", "action", "dataset", "columns", "allowed"), [
    ("trainer-bot", "read", "customers-redacted", None, True),
    ("trainer-bot", "read", "digits-v2@3", None, True),
    ("trainer-bot", "read", "customers", None, False),
    ("trainer-bot", "write", "customers-redacted", None, False),
    ("alice", "read", "customers-redacted", ["age", "zip"], True),
    ("alice", "read", "customers-redacted", ["age", "name"], False),
    ("alice", "read", "customers-redacted", None, False),  # columns-only grant: no full table
    ("ops", "delete", "customers", None, True),
    ("mallory", "read", "customers-redacted", None, False),
])
def test_check(principal: str, action: str, dataset: str, columns: list[str] | None,
               allowed: bool) -> None:
    decision = check(policy(), principal, action, dataset, columns)  # type: ignore[arg-type]
    assert decision.allowed is allowed, decision.reason


@pytest.mark.parametrize(("section", "match"), [
    ({"roles": {"r": {"grants": [{"datasets": ["x"], "actions": ["fly"]}]}}}, "fly"),
    ({"roles": {"r": {"grants": [{"datasets": [], "actions": ["read"]}]}}}, "datasets"),
    ({"roles": {"r": {}}}, "grants"),
    ({"roles": {"r": {"grants": [{"datasets": ["x"], "actions": ["read"], "rows": 1}]}}},
     "rows"),
    ({"principals": {"a": 3}}, "principals"),
    ({"principals": ["a"]}, "must be a table"),
])
def test_bad_policy_is_input_error(section: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_policy(section, "cpmap.toml")


def test_review_rules() -> None:
    found = review(policy(), ["customers"], used={"alice", "trainer-bot"})  # type: ignore[arg-type]
    got = {(f.rule_id, f.location.field) for f in found}
    assert ("CP3-ACCESS-WILDCARD", "access.roles.data-admin.grants[0]") in got
    assert ("CP3-ACCESS-RAW-WRITE", "access.roles.data-admin.grants[0]") in got
    assert ("CP3-ACCESS-UNKNOWN-ROLE", "access.principals.typo") in got
    assert ("CP3-ACCESS-UNUSED", "access.principals.ghost") in got
    assert ("CP3-ACCESS-UNUSED", "access.principals.alice") not in got
    assert not any(f.location.field.startswith("access.roles.trainer") for f in found)


def test_open_dataset_enforces_and_records_denial(policy_ws: Workspace) -> None:
    dv = open_dataset("customers-redacted", policy_ws, principal="trainer-bot",
                      purpose="training")
    assert dv.name == "customers-redacted"
    with pytest.raises(AccessDenied, match="trainer-bot may not read"):
        open_dataset("customers", policy_ws, principal="trainer-bot", purpose="training")
    [policy, denied] = Ledger(policy_ws).entries(control="CP3")
    assert policy.summary()["kind"] == "access-policy"  # the policy in force, signed first
    assert denied.predicate["verdict"] == "fail"
    assert denied.predicate["details"]["principal"] == "trainer-bot"
    assert denied.statement["subject"][0]["name"] == "customers@1"
    # no principal: the CP1 API works as before
    assert open_dataset("customers", policy_ws).name == "customers"


def test_no_policy_means_no_enforcement(ws: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    register_dataset(ws, "d", data)
    assert open_dataset("d", ws, principal="anyone").name == "d"


def test_cli_check_and_review(cli: Cli, policy_ws: Workspace) -> None:
    w = str(policy_ws.root)
    code, out, _ = cli("access", "check", "trainer-bot", "read", "customers-redacted", "-w", w,
                       "-f", "json")
    assert code == 0 and json.loads(out)["allowed"] is True
    code, _, err = cli("access", "check", "alice", "read", "customers-redacted", "-w", w,
                       "--columns", "age,name")
    assert code == 1 and "denied" in err
    code, _, err = cli("access", "check", "alice", "fly", "customers", "-w", w)
    assert code == 2 and err.startswith("cpmap: error:")
    open_dataset("customers-redacted", policy_ws, principal="trainer-bot")
    code, out, _ = cli("access", "review", "-w", w, "-f", "json")
    doc = json.loads(out)
    rules = {(f["rule_id"], f["location"]["field"]) for f in doc["findings"]}
    assert code == 1
    assert ("CP3-ACCESS-UNUSED", "access.principals.trainer-bot") not in rules
    assert ("CP3-ACCESS-UNUSED", "access.principals.alice") in rules
    assert ("CP3-ACCESS-RAW-WRITE", "access.roles.data-admin.grants[0]") in rules
    kinds = [e.summary()["kind"] for e in Ledger(policy_ws).entries(control="CP3")]
    assert kinds == ["access-policy", "access-review"]  # the enforced policy, then the review


toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(
        ["read", "write", "*", "customers*", "age", "x"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
        ["datasets", "actions", "columns", "grants", "roles", "r", "p"]), c, max_size=3),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["principals", "roles", "raw"]), toml_values, max_size=3))
def test_policy_loader_never_crashes(section: dict[str, object]) -> None:
    try:
        loaded = load_policy(section, "fuzz.toml")
    except InputError:
        return
    for principal in loaded.principals:
        check(loaded, principal, "read", "customers", ["age"])
    review(loaded, ["customers"], set())


@pytest.mark.parametrize("section", [5, "x", ["principals"]])
def test_access_section_that_is_not_a_table_is_input_error(section: object) -> None:
    with pytest.raises(InputError, match=r"\[access\] must be a table"):
        load_policy(section, "cpmap.toml")
