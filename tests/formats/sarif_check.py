"""Checks a SARIF log against the SARIF 2.1.0 schema and GitHub code scanning's requirements.

The schema is OASIS's (errata01, draft-04), vendored in tests/assets/sarif/ so the check runs
offline. GitHub's requirements come from its "SARIF support for code scanning" page and the
GH10xx rules of SARIF Multitool: a URI is relative or ``file:``; every result has a region with
``startLine``; every rule has ``shortDescription``, ``fullDescription``, ``help`` and a numeric
``security-severity``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = Path(__file__).parents[1] / "assets" / "sarif" / "sarif-schema-2.1.0.json"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


@cache
def _validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator
                                      .FORMAT_CHECKER)


def problems(log: dict[str, Any]) -> list[str]:
    """Everything that the schema or GitHub would refuse, as readable lines (empty: fine)."""
    out = [f"schema: {'/'.join(map(str, e.absolute_path))}: {e.message}"
           for e in _validator().iter_errors(log)]
    for run in log.get("runs", []):
        rules = run["tool"]["driver"].get("rules", [])
        ids = [r["id"] for r in rules]
        out += [f"rule {r['id']}: {what}" for r in rules for what in _rule_problems(r)]
        for i, res in enumerate(run.get("results", [])):
            out += [f"result {i}: {what}" for what in _result_problems(res, ids)]
    return out


def _rule_problems(rule: dict[str, Any]) -> list[str]:
    out = [f"no {key}" for key in ("shortDescription", "fullDescription")
           if not rule.get(key, {}).get("text")]
    help_ = rule.get("help", {})
    out += [f"no help.{key}" for key in ("text", "markdown") if not help_.get(key)]
    if not str(rule.get("helpUri", "")).startswith("https://"):
        out.append("no https helpUri")
    score = rule.get("properties", {}).get("security-severity")
    try:
        if not 0.0 <= float(score) <= 10.0:
            out.append(f"security-severity {score} outside 0-10")
    except (TypeError, ValueError):
        out.append(f"security-severity {score!r} is not a number")
    return out


def _result_problems(res: dict[str, Any], rule_ids: list[str]) -> list[str]:
    out = []
    if res.get("ruleId") not in rule_ids:
        out.append(f"ruleId {res.get('ruleId')} not among the rules")
    elif rule_ids[res.get("ruleIndex", -1)] != res["ruleId"]:
        out.append("ruleIndex does not point at its rule")
    if not res.get("message", {}).get("text"):
        out.append("no message text")
    if not res.get("locations"):
        out.append("no location")
    for loc in res.get("locations", []):
        phys = loc.get("physicalLocation", {})
        uri = phys.get("artifactLocation", {}).get("uri", "")
        if not uri:
            out.append("empty artifactLocation.uri")
        elif _SCHEME.match(uri) and not uri.startswith("file:"):
            out.append(f"uri {uri!r} has a scheme other than file")
        if " " in uri or "\\" in uri:
            out.append(f"uri {uri!r} is not percent-encoded")
        if not isinstance(phys.get("region", {}).get("startLine"), int):
            out.append("no region.startLine")
    return out
