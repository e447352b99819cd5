"""The gate's result for CI: a terminal table, JUnit XML for test dashboards, SARIF for code
scanning (one result per blocking reason, so a failed gate shows up as alerts)."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET  # noqa: S405 - we only build XML, never parse it

from cpmap.controls import control
from cpmap.core.findings import Finding, Location, Severity
from cpmap.gate.evaluate import GateResult


def rows(result: GateResult) -> list[dict[str, Any]]:
    return [{"control": c.control, "status": c.status, "required": "yes" if c.required else "no",
             "evidence": len(c.evidence), "reasons": "; ".join(c.reasons) or "-"}
            for c in result.controls]


def findings(result: GateResult) -> list[Finding]:
    """A finding per reason of a blocking control (missing evidence and failures alike)."""
    out: list[Finding] = []
    for c in result.failing():
        sev = Severity.HIGH if c.status == "fail" else Severity.MEDIUM
        out.extend(Finding(
                f"cpmap.gate.{c.control}", sev, f"{result.model}@{result.version}: {reason}",
                Location(f"model:{result.model}@{result.version}", field=c.control),
                f"Produce passing {c.control} evidence for sha256:{result.digest[:12]} or "
                "change the [gate] policy in cpmap.toml after review.",
                control(c.control).gate.tags,
                {"control": c.control, "status": c.status, "digest": result.digest})
            for reason in c.reasons or ("failed",))
    return out


def junit(result: GateResult) -> str:
    """JUnit XML: a test suite per gate run, a test case per control."""
    failures = sum(1 for c in result.controls if c.blocking)
    skipped = sum(1 for c in result.controls if c.status == "not-required")
    suite = ET.Element("testsuite", {
        "name": f"cpmap gate {result.model}@{result.version}",
        "tests": str(len(result.controls)), "failures": str(failures), "errors": "0",
        "skipped": str(skipped)})
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "digest", "value": result.digest})
    ET.SubElement(props, "property", {"name": "passed", "value": str(result.passed).lower()})
    for c in result.controls:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"cpmap.gate.{result.model}", "name": c.control})
        text = "\n".join(c.reasons)
        if c.blocking:
            kind = "no evidence" if c.status == "missing" else "failed"
            node = ET.SubElement(case, "failure", {"message": f"{c.control} {kind}",
                                                   "type": c.status})
            node.text = text
        elif c.status == "not-required":
            ET.SubElement(case, "skipped", {"message": text or "not required by the policy"})
        out = ET.SubElement(case, "system-out")
        out.text = "evidence: " + (", ".join(f"#{i.index} {i.kind} {i.verdict}"
                                             for i in c.evidence) or "none")
    ET.indent(suite)
    body: str = ET.tostring(suite, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def table(result: GateResult) -> None:
    from cpmap.formats.table import render

    verdict = "PASSED" if result.passed else "FAILED"
    render(rows(result), title=f"gate {result.model}@{result.version} "
           f"sha256:{result.digest[:12]}: {verdict}")
