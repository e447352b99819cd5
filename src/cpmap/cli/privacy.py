"""``cpmap privacy``: CP2 PII scan and redaction, anonymity, differential privacy, synthesis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import (
    FindingsFmt,
    FindingsFormatOpt,
    Fmt,
    FormatOpt,
    OutputOpt,
    WorkspaceOpt,
    emit,
    emit_findings,
    optional_workspace,
    progress,
    stderr_console,
)

app = typer.Typer(no_args_is_help=True)

EntityOpt = Annotated[list[str] | None, typer.Option(
    "--entity", "-e", help="Only these entities (Presidio names, repeatable).")]
BackendOpt = Annotated[str, typer.Option(
    "--backend", help="cpmap (built-in engine) or presidio (extra 'presidio').")]
EngineOpt = Annotated[str, typer.Option(
    help="local (this process) or dask (files / a Parquet table's row groups on workers).")]
SchedulerOpt = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://HOST:PORT); default: a local cluster on 127.0.0.1.")]


def _ws(path: Path | None) -> Any:
    from cpmap.core.workspace import open_workspace

    return open_workspace(path)


def _render(rows: list[dict[str, Any]], title: str) -> None:
    from cpmap.formats.table import render

    render(rows, title=title)


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Text files, CSV/TSV, Parquet, JSON Lines "
                                                "or directories.")],
    workspace: WorkspaceOpt = None,
    fmt: FindingsFormatOpt = FindingsFmt.table,
    output: OutputOpt = None,
    entity: EntityOpt = None,
    backend: BackendOpt = "cpmap",
    presidio_model: Annotated[str | None, typer.Option(
        help="A spaCy model you installed, for Presidio NER (PERSON, LOCATION).")] = None,
    sample_rows: Annotated[int, typer.Option(help="Rows sampled per table.", min=1)] = 10_000,
    max_findings: Annotated[int, typer.Option(help="Text findings listed per file.",
                                              min=0)] = 1000,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
) -> None:
    """Find PII in text and tables. Exit 1 when PII is found, 0 when clean."""
    from cpmap.privacy import scan as sc
    from cpmap.privacy.entities import check_entities
    from cpmap.privacy.policy import load_policy
    from cpmap.provenance.distributed import check_engine

    ws = optional_workspace(workspace, note=True)
    policy = load_policy(ws)
    analyzer = sc.make_analyzer(backend, check_entities(entity), presidio_model,
                                policy.phone_regions)
    check_engine(engine, scheduler)
    files = sc.expand(paths)
    if engine == "dask":
        from cpmap.privacy.distributed import scan_files_dask

        results = scan_files_dask(files, analyzer, sample_rows, max_findings,
                                  scheduler=scheduler)
    else:
        with progress("scanning", sum(f.stat().st_size for f in files)) as advance:
            results = [sc.scan_path(p, analyzer, sample_rows, max_findings, advance)
                       for p in files]
    entry = sc.record_scan(ws, results, backend, policy.fail_on) if ws is not None else None
    found = [f for r in results for f in sc.findings(r)]
    value = {"verdict": sc.verdict_of(results, policy.fail_on), "backend": backend,
             "entry": entry, "files": [r.to_dict() for r in results]}

    def table() -> None:
        rows = [{"file": Path(r.path).name, "where": c.column,
                 "entity": c.entity or "", "share": f"{c.share:.0%}", "pii": c.pii}
                for r in results for c in r.columns]
        rows += [{"file": Path(r.path).name, "where": f"{h.line}:{h.column}",
                  "entity": h.entity, "share": f"{h.score:.2f}", "pii": True,
                  "snippet": h.snippet} for r in results for h in r.hits]
        _render(rows, f"PII scan: {value['verdict']}")

    emit_findings(found, fmt.value, output, table, value, "CP2 PII scan")
    if any(r.pii for r in results):
        raise typer.Exit(1)


@app.command()
def redact(
    path: Annotated[Path, typer.Argument(help="A text file or a table (CSV, Parquet, JSONL).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the redacted copy.")],
    strategy: Annotated[str, typer.Option(
        help="Default strategy: mask, hash, fake, drop or encrypt.")] = "hash",
    column: Annotated[list[str] | None, typer.Option(
        "--column", "-c", help="Per-column strategy COLUMN=STRATEGY (also forces a column).")
    ] = None,
    entity: Annotated[list[str] | None, typer.Option(
        "--entity", "-e", help="Per-entity strategy ENTITY=STRATEGY.")] = None,
    direct_only: Annotated[bool, typer.Option(
        help="Leave quasi-identifiers (LOCATION, DATE_TIME) for `anonymize`.")] = False,
    name: Annotated[str | None, typer.Option(help="CP1 dataset name of the output.")] = None,
    backend: BackendOpt = "cpmap",
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
) -> None:
    """Mask, pseudonymize, fake, drop or encrypt PII; register the output via CP1 lineage.

    Exit 1 when direct identifiers or original values survive in the output.
    """
    from cpmap.core.evidence import Verdict
    from cpmap.privacy import redact as rd
    from cpmap.privacy.scan import make_analyzer

    plan = rd.Plan(rd.parse_overrides([f"*={strategy}"], "strategy")["*"],
                   rd.parse_overrides(column, "column"), rd.parse_overrides(entity, "entity"),
                   direct_only)
    result = rd.redact(_ws(workspace), path, out, plan, make_analyzer(backend), out_name=name,
                       engine=engine, scheduler=scheduler)

    def table(v: dict[str, Any]) -> None:
        rows = v["columns"] or [{"entity": e, "strategy": plan.for_entity(e).value,
                                 "redacted": n} for e, n in v["redacted"].items()]
        _render(rows, f"redacted {v['input_dataset']} -> {v['output_dataset']}: {v['verdict']}")
        stderr_console().print(f"wrote {v['output']} (residual original values: "
                               f"{v['residual_values']}, re-scan: "
                               f"{v['rescan_entities'] or 'clean'})")

    emit(result.to_dict(), fmt.value, None, table)
    if result.verdict is Verdict.FAIL:
        raise typer.Exit(1)


@app.command()
def decrypt(
    path: Annotated[Path, typer.Argument(help="A file redacted with --strategy encrypt.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the decrypted copy.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Reverse `redact --strategy encrypt` with the workspace AES key (keep the output safe)."""
    from cpmap.privacy.ops import run_decrypt

    n = run_decrypt(lambda: _ws(workspace), path, out)
    stderr_console().print(f"decrypted {n} values into {out} (mode 0600)")


QuasiOpt = Annotated[list[str], typer.Option(
    "--quasi", "-q", help="Quasi-identifier columns (comma-separated or repeated).")]
SensitiveOpt = Annotated[str | None, typer.Option("--sensitive", "-s",
                                                  help="The sensitive attribute column.")]


@app.command()
def assess(
    data: Annotated[Path, typer.Argument(help="A table (CSV, Parquet, JSONL).")],
    quasi: QuasiOpt,
    sensitive: SensitiveOpt = None,
    k: Annotated[int | None, typer.Option("--k", help="Required k (default: policy).",
                                          min=1)] = None,
    l_div: Annotated[int | None, typer.Option("--l", help="Required distinct l.", min=1)] = None,
    t: Annotated[float | None, typer.Option(
        "--t", help="Allowed t-closeness (0: no t-closeness constraint).", min=0)] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """k-anonymity, l-diversity, t-closeness, uniqueness and prosecutor risk.

    Exit 1 when the table misses the policy (cpmap.toml [privacy] k, l, t, max_unique).
    """
    from cpmap.core.evidence import Verdict
    from cpmap.privacy.ops import run_assess, split_cols

    ws = optional_workspace(workspace, note=True)
    report = run_assess(ws, data, split_cols(quasi), sensitive, k, l_div, t)

    def table(v: dict[str, Any]) -> None:
        rows = [{"metric": key, "value": val} for key, val in v.items()
                if key not in ("quasi", "problems")]
        _render(rows, f"anonymity of {data.name}: {v['verdict']}")
        for p in v["problems"]:
            stderr_console().print(f"[red]{p}[/]")

    emit(report.to_dict(), fmt.value, None, table)
    if report.verdict is Verdict.FAIL:
        raise typer.Exit(1)


@app.command()
def anonymize(
    data: Annotated[Path, typer.Argument(help="A table (CSV, Parquet, JSONL).")],
    quasi: QuasiOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the result.")],
    k: Annotated[int, typer.Option("--k", help="Minimum class size.", min=1)] = 5,
    l_div: Annotated[int | None, typer.Option("--l", help="Distinct l-diversity.", min=1)] = None,
    t: Annotated[float | None, typer.Option(
        "--t", help="Maximum t-closeness (0: no t-closeness constraint).", min=0)] = None,
    sensitive: SensitiveOpt = None,
    suppress: Annotated[float, typer.Option(
        help="Share of records that may be suppressed (outliers, rare values).")] = 0.0,
    name: Annotated[str | None, typer.Option(help="CP1 dataset name of the output.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Mondrian k-anonymization (with l/t), registered as a new dataset version.

    The output is re-assessed; exit 1 if it misses the requested k/l/t.
    """
    from cpmap.core.evidence import Verdict
    from cpmap.privacy.ops import run_anonymize, split_cols

    report = run_anonymize(_ws(workspace), data, out, split_cols(quasi), k, l_div, t, sensitive,
                           suppress, name)

    def table(v: dict[str, Any]) -> None:
        a = v["assessment"]
        _render([{"output": v["output_dataset"], "k": a["k"], "l": a["l_distinct"],
                  "t": a["t_closeness"], "classes": a["classes"], "suppressed": v["suppressed"],
                  "NCP": v["information_loss_ncp"], "verdict": a["verdict"]}],
                f"Mondrian k={k}")

    emit(report.to_dict(), fmt.value, None, table)
    if report.check.verdict is Verdict.FAIL:
        raise typer.Exit(1)


NewPopulationOpt = Annotated[str | None, typer.Option(
    "--new-population", help="DATA is an unregistered file holding people no registered "
    "dataset holds: register it under this CP1 name, with its own budget (recorded).")]


@app.command("dp-query")
def dp_query(
    data: Annotated[str, typer.Argument(help="A table file or a CP1 dataset (name@version).")],
    query: Annotated[str, typer.Option("--query", help="count | sum(col) | mean(col) | "
                                       "histogram(col)")],
    epsilon: Annotated[float, typer.Option("--epsilon", help="Privacy cost of this release.")],
    bounds: Annotated[str | None, typer.Option(help="LO,HI public bounds for sum/mean.")] = None,
    categories: Annotated[str | None, typer.Option(
        help="Public category list a,b,c for histogram.")] = None,
    new_population: NewPopulationOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """A differentially private statistic (OpenDP), charged to the budget of the people in
    DATA: the roots of its CP1 lineage (a derived copy shares its ancestors' budget).

    Exit 1 when the budget would be exceeded (nothing is released).
    """
    from cpmap.privacy import dp
    from cpmap.privacy.population import release_source
    from cpmap.privacy.records import load_text

    ws = _ws(workspace)
    q = dp.parse_query(query, bounds, categories)
    src = release_source(ws, data, new_population, f"dp-query {q}")
    rel = dp.release(ws, load_text(src.path), src.ref, q, epsilon, src.digest,
                     src.new_population)

    def table(v: dict[str, Any]) -> None:
        value = v["value"]
        rows = ([{"category": c, "noisy count": n} for c, n in value.items()]
                if isinstance(value, dict) else [{"query": v["query"], "value": value}])
        _render(rows, f"{v['query']} on {v['dataset']} (epsilon {v['epsilon']:g}, "
                      f"{v['remaining_epsilon']:g} left)")

    emit(rel.to_dict(), fmt.value, None, table)


@app.command()
def budget(
    dataset: Annotated[list[str] | None, typer.Argument(help="Dataset names (default: all "
                                                        "with spends).")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Privacy budgets: configured epsilon/delta, spent, remaining, releases."""
    from cpmap.privacy import budget as bg

    ws = _ws(workspace)
    names = dataset or bg.datasets_with_spends(ws)
    value = [bg.status(ws, n).to_dict() for n in names]
    emit(value, fmt.value, None, lambda v: _render(v, "privacy budgets"))


@app.command()
def synthesize(
    data: Annotated[Path, typer.Argument(help="The real table (CSV, Parquet, JSONL).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the synthetic table.")],
    rows: Annotated[int, typer.Option("--rows", "-n", help="Rows to generate.", min=1)] = 1000,
    epsilon: Annotated[float | None, typer.Option(
        help="Fit with differential privacy (charged to the budget).")] = None,
    bounds: Annotated[list[str] | None, typer.Option(
        help="Public COLUMN=LO,HI for a numeric column (needed with --epsilon).")] = None,
    categories: Annotated[list[str] | None, typer.Option(
        help="Public COLUMN=a,b,c for a categorical column (needed with --epsilon).")] = None,
    integer: Annotated[list[str] | None, typer.Option(
        "--integer", help="Numeric columns sampled as whole numbers (public; with --epsilon, "
        "comma-separated or repeated).")] = None,
    columns: Annotated[str | None, typer.Option(help="Only these columns (comma-separated).")
                       ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    name: Annotated[str | None, typer.Option(help="CP1 dataset name of the output.")] = None,
    new_population: NewPopulationOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """A seeded Gaussian-copula synthetic copy (DP with --epsilon), registered via CP1.

    With --epsilon the fit is charged to the budget of the people in DATA (the roots of its
    CP1 lineage); DATA must be registered (or named with --new-population).
    """
    from cpmap.privacy.ops import split_cols
    from cpmap.privacy.synth_ops import parse_domains, run_synthesize

    b, c = parse_domains(bounds, categories)
    report = run_synthesize(_ws(workspace), data, out, rows, epsilon=epsilon, seed=seed,
                            columns=split_cols(columns) or None, bounds=b, categories=c,
                            name=name, integers=frozenset(split_cols(integer)),
                            new_population=new_population)
    emit(report.to_dict(), fmt.value, None, lambda v: _render(
        [{"output": v["output_dataset"], "rows": v["rows"], "columns": len(v["columns"]),
          "not modelled": ", ".join(v["dropped"]), "epsilon": v["epsilon"]}], "synthesize"))


@app.command("evaluate-synthetic")
def evaluate_synthetic(
    real: Annotated[Path, typer.Argument(help="The real table the synthesizer was fitted on.")],
    synthetic: Annotated[Path, typer.Argument(help="The synthetic table.")],
    holdout: Annotated[Path | None, typer.Option(
        help="Real rows NOT used for fitting (default: a 70/30 split of REAL).")] = None,
    target: Annotated[str | None, typer.Option(help="Label column for TSTR.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Fidelity (column distance, correlations, TSTR) and privacy (DCR, exact copies).

    Exit 1 when synthetic rows look memorized (exact copies > 5% or DCR ratio < 0.5).
    """
    from cpmap.privacy.synth_ops import run_evaluate

    value, entry = run_evaluate(optional_workspace(workspace, note=True), real, synthetic, holdout,
                                target, seed)
    value["entry"] = entry
    emit(value, fmt.value, None, lambda v: _render(
        [{"metric": key, "value": val} for key, val in v.items() if key != "column_distance"],
        f"synthetic data: {v['verdict']}"))
    if value["verdict"] == "fail":
        raise typer.Exit(1)
