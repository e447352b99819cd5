"""``cpmap registry``: register, inspect and verify model versions; aliases, promotion,
rollback and model cards (CP6)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import (
    Fmt,
    FormatOpt,
    OutputOpt,
    WorkspaceOpt,
    check_output,
    emit,
    emit_json,
    progress,
    stderr_console,
    write_text,
)

app = typer.Typer(no_args_is_help=True)


def _ws(workspace: Path | None) -> Any:
    from cpmap.core.workspace import open_workspace

    return open_workspace(workspace)


@app.command()
def register(
    name: Annotated[str, typer.Argument(help="Model name.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model file or directory, or a "
                                       "model-store version NAME[@N] from `cpmap train`.")],
    dataset: Annotated[list[str] | None, typer.Option("--dataset", "-d", help="Training "
                       "dataset (NAME[@V] or sha256); repeat for several.")] = None,
    training_record: Annotated[Path | None, typer.Option(help="JSON training record.")] = None,
    parent: Annotated[str | None, typer.Option(help="Parent version NAME@V (default: the "
                                               "previous version of NAME).")] = None,
    card_file: Annotated[Path | None, typer.Option(help="Card prose (TOML or JSON): "
                                                   "intended_use, limitations, ...")] = None,
    sbom: Annotated[Path | None, typer.Option(help="Environment SBOM (CP3 `cpmap sbom`).")]
    = None,
    version: Annotated[int | None, typer.Option(help="Version number to claim (refused if it "
                                                "holds different content).")] = None,
    scan: Annotated[bool, typer.Option("--scan/--no-scan", help="Scan the model files with "
                                       "the CP3 scanner first (evidence for the gate).")]
    = True,
    pin_environment: Annotated[bool, typer.Option(
        "--pin-environment", help="Hold the version to the workspace's latest CP3 "
        "dependency, secret, SBOM and image scans (part of its lineage).")] = False,
    sigstore_bundle: Annotated[Path | None, typer.Option(
        help="Also write an OpenSSF model-signing bundle here (extra: model-signing).")] = None,
    framework: Annotated[str | None, typer.Option(
        "--framework", help="Your own model file: sklearn, torch or onnx (with --data and "
        "--target; see docs/byo-model.md).")] = None,
    data: Annotated[str | None, typer.Option(
        "--data", help="Dataset NAME@V the feature schema is read from (your own model).")]
    = None,
    target: Annotated[str | None, typer.Option("--target", help="Class column of --data.")]
    = None,
    schema: Annotated[Path | None, typer.Option(
        "--schema", help="Feature schema JSON: features, types, input frame|array.")] = None,
    arch: Annotated[Path | None, typer.Option(
        "--arch", help="Architecture spec JSON of safetensors weights (torch).")] = None,
    trust_type: Annotated[list[str] | None, typer.Option(
        "--trust-type", help="A skops type you reviewed and trust (repeatable).")] = None,
    baseline: Annotated[bool | None, typer.Option(
        "--baseline/--no-baseline", help="Build and verify the version's CP8 input baseline "
        "from its lineage data (default: [monitoring] baseline_on_register, on).")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Register an immutable, signed, content-addressed model version with its lineage.

    With --framework the file is your own model, taken as it is (its SHA-256 is the
    version's digest) with a feature schema, so every control can run it.
    """
    from cpmap.monitor.onregister import enabled
    from cpmap.registry.card import load_card_file
    from cpmap.registry.intake import register_any
    from cpmap.registry.lineage import read_training_record

    ws = _ws(workspace)
    want_baseline = enabled(ws, baseline)  # a bad setting is refused before registering
    training = read_training_record(training_record) if training_record is not None else None
    card = load_card_file(card_file) if card_file else None
    common = {"parent": parent, "card": card, "sbom": sbom, "version": version, "scan": scan,
              "pin_environment": pin_environment}
    if framework is not None or data is not None or target is not None:
        reg = _register_own(ws, name, model, framework, data, target, schema, arch,
                            tuple(trust_type or ()), common)
    else:
        reg = register_any(ws, name, model, datasets=dataset or (), training=training,
                           **common)
    mv = reg.version
    value = {**mv.to_dict(), "created": reg.created}
    if sigstore_bundle is not None:
        from cpmap.registry.sigstore import sign_bundle

        value["sigstore_bundle"] = sign_bundle(ws, mv, sigstore_bundle)
    note = _baseline(ws, mv, value) if want_baseline else ""
    if fmt == Fmt.json:
        emit_json(value)
    state = "registered" if reg.created else "already registered as"
    stderr_console().print(f"{state} [bold]{mv.ref}[/] sha256:{mv.digest[:16]} "
                           f"({len(mv.lineage.datasets)} dataset(s), ledger #{mv.entry})")
    if note:
        stderr_console().print(note, markup=False, highlight=False)


def _baseline(ws: Any, mv: Any, value: dict[str, Any]) -> str:
    """CP8: the version's input baseline, built on registration unless opted out."""
    from cpmap.monitor.onregister import Built, on_register

    got = on_register(ws, mv)
    value["baseline"] = ({"entry": got.entry, "sha256": got.sha256}
                         if isinstance(got, Built) else {"note": got.note})
    return got.note


def _register_own(ws: Any, name: str, model: str, framework: str | None, data: str | None,
                  target: str | None, schema: Path | None, arch: Path | None,
                  trusted: tuple[str, ...], common: dict[str, Any]) -> Any:
    from cpmap.errors import InputError
    from cpmap.registry.intake import register_own

    if not (framework and data and target):
        raise InputError("your own model needs --framework, --data and --target together",
                         hint="cpmap registry register NAME --model FILE --framework sklearn "
                              "--data DATASET@V --target COLUMN")
    return register_own(ws, name, Path(model), framework=framework, data=data, target=target,
                        schema=schema, arch=arch, trusted_types=trusted, **common)


@app.command("list")
def list_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """List model versions (each manifest verified as it is read) with their aliases."""
    from cpmap.registry.versions import aliases, list_versions

    ws = _ws(workspace)
    versions = list_versions(ws, name)
    names = {v.name for v in versions}
    by = {n: aliases(ws, n) for n in names}
    rows = [{"model": v.name, "version": v.version, "digest": v.digest,
             "aliases": sorted(a for a, n in by[v.name].items() if n == v.version),
             "created_at": v.created_at, "datasets": len(v.lineage.datasets)} for v in versions]

    def table(value: list[dict[str, Any]]) -> None:
        from cpmap.formats.table import render

        render([{**r, "digest": r["digest"][:16]} for r in value], title="model versions")

    emit(rows, fmt, None, table)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME[@VERSION|@ALIAS].")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Show a version: manifest, lineage, aliases and the evidence about its digest."""
    from cpmap.core.ledger import Ledger
    from cpmap.registry.stages import history
    from cpmap.registry.versions import aliases, get

    ws = _ws(workspace)
    mv = get(ws, ref)
    value = {**mv.to_dict(), "aliases": aliases(ws, mv.name),
             "history": history(ws, mv.name),
             "evidence": [e.summary() for e in Ledger(ws).entries(digest=mv.digest)]}

    def table(v: dict[str, Any]) -> None:
        lin = v["lineage"]
        typer.echo(f"{mv.ref}  sha256:{mv.digest}\n  created {mv.created_at}, ledger "
                   f"#{mv.entry}, {v['artifact']['bytes']} bytes, "
                   f"{', '.join(v['artifact']['formats'])}")
        typer.echo("  aliases: " + (", ".join(f"{a}->{n}" for a, n in v["aliases"].items())
                                    or "none"))
        for d in lin["datasets"]:
            typer.echo(f"  dataset {d['name']}@{d['version']} sha256:{d['digest'][:16]}")
        if lin["git"]:
            typer.echo(f"  commit {lin['git']['commit'][:12]}"
                       + (" (dirty)" if lin["git"]["dirty"] else ""))
        if lin["parent"]:
            typer.echo(f"  parent {lin['parent']['name']}@{lin['parent']['version']}")
        from cpmap.formats.table import render

        render([{"index": e["index"], "control": e["control"], "kind": e["kind"],
                 "verdict": e["verdict"]} for e in v["evidence"]], title="evidence")

    emit(value, fmt, None, table)


@app.command()
def verify(
    ref: Annotated[str, typer.Argument(help="NAME[@VERSION] (all versions of NAME when no "
                                       "version is given).")],
    artifact: Annotated[Path | None, typer.Option(help="Also check that this deployed file "
                                                  "or directory is the version.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Verify manifest signatures, stored bytes and ledger entries. Exit 1 on any problem."""
    from cpmap.registry.versions import matching
    from cpmap.registry.versions import verify as check

    ws = _ws(workspace)
    versions = matching(ws, ref)
    if not versions:
        from cpmap.errors import InputError

        raise InputError(f"model {ref!r}: no versions registered")
    results = [check(ws, v, artifact) for v in versions]
    if fmt == Fmt.json:
        emit_json({"ok": all(r.ok for r in results), "versions": [r.to_dict() for r in results]})
    else:
        out = stderr_console()
        for r in results:
            out.print(f"{r.ref} sha256:{r.digest[:16]}: " + ("[green]OK[/]" if r.ok else
                      "[red]FAILED[/]: " + "; ".join(r.problems)))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def alias(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. candidate.")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Point an alias at a version (recorded in the ledger)."""
    from cpmap.registry.stages import set_alias

    move = set_alias(_ws(workspace), ref, alias_name)
    if fmt == Fmt.json:
        emit_json(move.to_dict())
    stderr_console().print(f"{move.name}@{move.alias} -> {move.version} (ledger #{move.entry})")


@app.command()
def promote(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.")],
    to: Annotated[str, typer.Option("--to", help="Stage: production or staging.")]
    = "production",
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Promote a version if the gate passes; exit 1 with the gate's reasons otherwise."""
    from cpmap.registry.stages import promote as do_promote

    move, _result = do_promote(_ws(workspace), ref, to)
    if fmt == Fmt.json:
        emit_json(move.to_dict())
    stderr_console().print(f"[green]promoted[/] {move.name}@{move.version} to {move.alias}"
                           + (f" (was {move.previous})" if move.previous else "")
                           + f", ledger #{move.entry}")


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    stage: Annotated[str, typer.Option("--stage", help="Stage to roll back.")] = "production",
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Move the stage back to the previously approved version."""
    from cpmap.registry.stages import rollback as do_rollback

    move = do_rollback(_ws(workspace), name, stage)
    if fmt == Fmt.json:
        emit_json(move.to_dict())
    stderr_console().print(f"rolled back {name} {stage}: {move.previous} -> {move.version} "
                           f"(ledger #{move.entry})")


class CardFmt(StrEnum):
    markdown = "markdown"
    html = "html"
    json = "json"


@app.command()
def card(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.")],
    fmt: Annotated[CardFmt, typer.Option("--format", "-f", help="Output format.")]
    = CardFmt.markdown,
    card_file: Annotated[Path | None, typer.Option(help="Card prose (TOML/JSON) to use over "
                                                   "the one given at registration.")] = None,
    fairness_data: Annotated[Path | None, typer.Option(help="Table (CSV/Parquet) to measure "
                                                       "fairness on.")] = None,
    sensitive: Annotated[str | None, typer.Option(help="Sensitive attribute column.")] = None,
    label: Annotated[str | None, typer.Option(help="Label column (default: the model's).")]
    = None,
    positive: Annotated[str | None, typer.Option(help="Positive class (default: the last "
                                                 "class; every class for multi-class).")] = None,
    output: OutputOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write the model card and record it (CP6 evidence)."""
    from cpmap.errors import InputError
    from cpmap.registry import card_render
    from cpmap.registry.card import build_card, load_card_file, record_card, required_fields
    from cpmap.registry.versions import get

    check_output(output)  # before the card is recorded
    ws = _ws(workspace)
    mv = get(ws, ref)
    prose = load_card_file(card_file) if card_file else None
    fair = None
    if fairness_data is not None or sensitive is not None:
        if fairness_data is None or sensitive is None:
            raise InputError("fairness needs both --fairness-data and --sensitive")
        fair = card_render.fairness_for(ws, mv, fairness_data, sensitive, label, positive)
    doc = build_card(ws, mv, prose, fair)
    entry = record_card(ws, mv, doc, required_fields(ws))
    if fmt == CardFmt.json:
        emit_json(doc, output)
    elif fmt == CardFmt.html:
        write_text(card_render.html(doc), output)
    else:
        write_text(card_render.markdown(doc), output)
    stderr_console().print(f"model card for {mv.ref} recorded (ledger #{entry.index})")


@app.command("export-mlflow")
def export_mlflow(
    ref: Annotated[str, typer.Argument(help="NAME[@VERSION] (all versions without VERSION).")],
    tracking_uri: Annotated[str, typer.Option(help="MLflow tracking URI, e.g. "
                                              "sqlite:///mlflow.db.")],
    experiment: Annotated[str, typer.Option(help="MLflow experiment for the runs.")] = "cpmap",
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Register versions in MLflow, tagged with their digest, gate verdict and evidence."""
    from cpmap.registry.mlflow_interop import export_version
    from cpmap.registry.versions import matching

    ws = _ws(workspace)
    versions = matching(ws, ref)
    done = []
    with progress("exporting to MLflow", len(versions)) as advance:
        for v in versions:
            done.append({"model": v.ref,
                         **export_version(ws, v, tracking_uri, experiment).to_dict()})
            advance(1)

    def table(value: list[dict[str, Any]]) -> None:
        from cpmap.formats.table import render

        render(value, title=f"exported to {tracking_uri}")

    emit(done, fmt, None, table)


@app.command("import-mlflow")
def import_mlflow(
    mlflow_model: Annotated[str, typer.Argument(help="MLflow registered model name.")],
    version: Annotated[str, typer.Option("--version", help="MLflow model version.")],
    tracking_uri: Annotated[str, typer.Option(help="MLflow tracking URI.")],
    name: Annotated[str | None, typer.Option("--as", help="cpmap model name (default: the "
                                             "MLflow name).")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Register an MLflow model version here, only if it holds safe formats (no pickles)."""
    from cpmap.registry.mlflow_interop import import_version

    reg = import_version(_ws(workspace), tracking_uri, mlflow_model, version, name)
    if fmt == Fmt.json:
        emit_json({**reg.version.to_dict(), "created": reg.created})
    stderr_console().print(f"imported MLflow {mlflow_model} v{version} as {reg.version.ref} "
                           f"sha256:{reg.version.digest[:16]}")
