"""The last line of defence: ``scrub`` masks every secret in a JSON-like value, and every
evidence statement goes through it before it is signed into the ledger."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.supplychain.secrets import scrub
from cpmap.supplychain.secrets.engine import mask

from ..test_secrets import TOKENS

GH, HF = TOKENS["github-token"], TOKENS["huggingface-token"]
DIGEST = "ab" * 32


def test_scrub_masks_values_keys_and_nested_strings() -> None:
    value = {"a": [f"HF_TOKEN={HF}", ("x", {"deep": f"token {GH} in a sentence"})],
             f"key {GH}": 1, "n": 3.5, "none": None, "ok": "nothing here"}
    out = scrub(value)
    dumped = json.dumps(out)
    assert GH not in dumped and HF not in dumped
    assert out["a"][0] == f"HF_TOKEN={mask(HF)}"
    assert out["a"][1][1]["deep"] == f"token {mask(GH)} in a sentence"
    assert out[f"key {mask(GH)}"] == 1 and out["n"] == 3.5 and out["ok"] == "nothing here"


def test_scrub_returns_a_clean_value_unchanged() -> None:
    value = {"metrics": {"files": 15}, "highlights": ["2 secret(s) found in 15 files"],
             "digest": DIGEST, "masked": mask(GH)}
    assert scrub(value) is value


def test_config_style_passwords_are_masked() -> None:
    out = scrub({"line": "DB_PASSWORD=Zq8rT2!vLx9wPm"})
    assert "Zq8rT2!vLx9wPm" not in out["line"]


def test_a_secret_split_over_two_strings_is_masked_piecewise() -> None:
    key = TOKENS["private-key"]
    head, tail = key.split("\n", 2)[:2], key.split("\n", 2)[2]
    out = scrub(["\n".join(head), tail])
    assert key.split("\n")[1] not in json.dumps(out)


def test_record_never_writes_a_planted_secret(ws: Workspace) -> None:
    ev = Evidence(control="CP3", kind="dependency-scan", subjects=[Subject("file:r.txt", DIGEST)],
                  verdict=Verdict.WARN, metrics={"skipped": 1},
                  details={"skipped": [{"name": f"HF_TOKEN={HF}", "reason": "x"}],
                           "database": "cloned with "
                                       f"https://ci:{TOKENS['url-password']}@git.io/x"})
    entry = record(ev, ws)
    [stored] = [e for e in Ledger(ws).entries(control="CP3") if e.index == entry.index]
    dumped = json.dumps(stored.statement)
    assert HF not in dumped and TOKENS["url-password"] not in dumped
    assert mask(HF) in dumped


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=40),
                    lambda c: st.lists(c, max_size=4)
                    | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=20))
@settings(max_examples=150, deadline=None)
def test_scrub_keeps_the_shape_of_any_json_value(value: object) -> None:
    out = scrub(value)
    assert json.dumps(out, sort_keys=True) == json.dumps(scrub(out), sort_keys=True)
    assert type(out) is type(value)
