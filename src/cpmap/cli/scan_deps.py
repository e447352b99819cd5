"""``cpmap scan deps``: known vulnerabilities of pinned Python dependencies (OSV)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cpmap.cli.common import (
    FindingsFmt,
    FindingsFormatOpt,
    OutputOpt,
    WorkspaceOpt,
    emit_findings,
    optional_workspace,
    stderr_console,
)

if TYPE_CHECKING:
    pass


def deps(
    requirement: Annotated[list[Path] | None, typer.Option(
        "--requirement", "-r", help="requirements.txt to audit (repeatable).")] = None,
    pyproject: Annotated[Path | None, typer.Option(
        "--pyproject", help="pyproject.toml whose [project] dependencies to audit.")] = None,
    lock: Annotated[Path | None, typer.Option(
        "--lock", help="PEP 751 pylock.toml to audit.")] = None,
    sbom: Annotated[Path | None, typer.Option(
        "--sbom", help="CycloneDX JSON BOM whose pkg:pypi components to audit (the evidence "
                       "then names the BOM, so the gate counts it for models built with it).")]
        = None,
    env: Annotated[str | None, typer.Option(
        "--env", help="Python interpreter whose installed packages to audit (default when no "
                      "file is given: this one).")] = None,
    osv_db: Annotated[Path | None, typer.Option(
        "--osv-db", envvar="CPMAP_SUPPLYCHAIN_OSV_DB",
        help="Offline OSV database: a folder of OSV JSON files or PyPI's all.zip.")] = None,
    online: Annotated[bool, typer.Option(
        "--online", help="Query the OSV API (api.osv.dev) instead of an offline database.")]
        = False,
    workspace: WorkspaceOpt = None,
    fmt: FindingsFormatOpt = FindingsFmt.table,
    output: OutputOpt = None,
) -> None:
    """Match pinned dependencies (requirements, pyproject, pylock, SBOM or an environment)
    against OSV advisories; exit 1 when any is vulnerable.

    Unpinned requirements are listed as skipped, never guessed.
    """
    from cpmap.errors import InputError
    from cpmap.supplychain import deps as sca
    from cpmap.supplychain import reqsource
    from cpmap.supplychain.osvdb import AdvisorySource, OfflineDatabase, OnlineDatabase

    ws = optional_workspace(workspace)
    if osv_db is None and not online and ws is not None and ws.setting("supplychain",
                                                                        "osv_db"):
        osv_db = ws.root / str(ws.setting("supplychain", "osv_db"))  # relative: to the root
    if osv_db is None and not online:
        raise InputError("no OSV database configured", hint="run `cpmap osv fetch` once "
                         "(it sets [supplychain] osv_db), or pass --osv-db PATH or --online")
    if osv_db is not None and online:
        raise InputError("give one of --osv-db PATH (offline OSV export) or --online")
    parts, subjects = _inputs(requirement or [], pyproject, lock, sbom, env)
    inputs = reqsource.Inputs.combine(parts)
    names = {p.name for p in inputs.pins}
    source: AdvisorySource = OnlineDatabase() if online else OfflineDatabase(
        osv_db, names)  # type: ignore[arg-type]
    report = sca.scan(inputs, source)
    _emit(report, fmt.value, output)
    if ws is not None:
        entry = sca.record_evidence(report, subjects, ws)
        stderr_console().print(f"CP3 evidence recorded: ledger entry {entry.index}")
    if report.vuln_count:
        raise typer.Exit(1)


def _inputs(requirements: list[Path], pyproject: Path | None, lock: Path | None,
            sbom: Path | None, env: str | None) -> tuple[list[Any], list[Any]]:
    import hashlib

    from cpmap.core.evidence import Subject
    from cpmap.errors import InputError
    from cpmap.supplychain import deps as sca
    from cpmap.supplychain import reqsource

    parts = [reqsource.parse_requirements(path) for path in requirements]
    subjects = []
    if pyproject is not None:
        parts.append(reqsource.parse_pyproject(pyproject))
    if lock is not None:
        parts.append(reqsource.parse_pylock(lock))
    if sbom is not None:
        parts.append(reqsource.parse_cyclonedx(sbom))
    for path in [*requirements, *(p for p in (pyproject, lock, sbom) if p is not None)]:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror}") from e
        subjects.append(Subject(f"file:{path}", digest))
    if env is not None or not parts:
        python = env or _this_python()
        part = reqsource.from_environment(reqsource.environment(python), python)
        parts.append(part)
        subjects.append(sca.subject_for(part, f"python-env:{python}"))
    return parts, subjects


def _this_python() -> str:
    import sys

    return sys.executable


def _emit(report: Any, fmt: str, output: Path | None) -> None:
    def table() -> None:
        from cpmap.formats.table import render

        rows = [{"package": d.name, "version": d.version, "vuln": v.id,
                 "severity": v.severity.value if v.severity else "unrated",
                 "fix": d.fix or "none known", "summary": v.summary}
                for d in report.dependencies for v in d.vulns]
        render(rows, title=f"dependency vulnerabilities ({report.database})")
        err = stderr_console()
        for s in report.skipped:
            err.print(f"skipped {s.name}: {s.reason}", markup=False, highlight=False)
        err.print(f"{len(report.dependencies)} dependencies audited, {report.vuln_count} "
                  f"vulnerabilities in {len(report.vulnerable)}, {len(report.skipped)} skipped")

    emit_findings(report.findings(), fmt, output, table, report.to_dict(),
                  title="Dependency vulnerabilities")
