"""``cpmap sbom``: a CycloneDX 1.6 SBOM / ML-BOM of an environment, datasets and models."""

from __future__ import annotations

from typing import Annotated

import typer

from cpmap.cli.common import OutputOpt, WorkspaceOpt, stderr_console, write_text


def sbom(
    env: Annotated[str | None, typer.Option(
        "--env", help="Python interpreter whose packages to list (default: this one).")] = None,
    model: Annotated[list[str] | None, typer.Option(
        "--model", help="Only this model (name or name@N; repeatable). Default: all.")] = None,
    dataset: Annotated[list[str] | None, typer.Option(
        "--dataset", help="Only this dataset (name or name@N; repeatable). Default: all.")]
        = None,
    no_packages: Annotated[bool, typer.Option(
        "--no-packages", help="Leave Python packages out (datasets and models only).")] = False,
    workspace: WorkspaceOpt = None,
    output: OutputOpt = None,
) -> None:
    """Write a schema-validated CycloneDX 1.6 JSON BOM (stdout or -o bom.cdx.json).

    Inside a workspace, its datasets become `data` components and its models
    `machine-learning-model` components, and the BOM is recorded as CP3 evidence.
    """
    import sys

    from cpmap.cli.common import optional_workspace
    from cpmap.errors import WorkspaceError
    from cpmap.supplychain import bomsources, reqsource
    from cpmap.supplychain import sbom as cdx

    ws = optional_workspace(workspace)
    if ws is None and (model or dataset):
        raise WorkspaceError("--model and --dataset need a workspace", hint="pass --workspace")
    python = env or sys.executable
    dists = [] if no_packages else reqsource.environment(python)
    datasets = bomsources.workspace_datasets(ws, dataset or []) if ws else []
    models = bomsources.workspace_models(ws, model or []) if ws else []
    if model and not dataset and ws is not None:  # with --model: the data it was trained on
        wanted = {d for m in models for d in m.datasets}
        datasets = [d for d in bomsources.workspace_datasets(ws, []) if d.digest in wanted]
    project = ws.name if ws else "python-environment"
    result = cdx.generate(project, dists, datasets, models)
    write_text(result.text, output)
    err = stderr_console()
    err.print(f"CycloneDX 1.6 BOM valid: {result.packages} packages, {result.datasets} "
              f"datasets, {result.models} models")
    if ws is not None:
        entry = cdx.record_evidence(result, ws, f"sbom:{output.name if output else project}")
        err.print(f"CP3 evidence recorded: ledger entry {entry.index}")
