"""``cpmap models``: list and show stored models, add model files safely, trust a pickle."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import Fmt, FormatOpt, WorkspaceOpt, emit, stderr_console

app = typer.Typer(no_args_is_help=True)


@contextmanager
def spinner(what: str) -> Iterator[None]:
    """A status line on stderr (when it is a terminal) for steps that take seconds."""
    import sys

    if not sys.stderr.isatty():
        yield
        return
    with stderr_console().status(what):
        yield


@app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """List the model versions stored in the workspace."""
    from cpmap.core.workspace import open_workspace
    from cpmap.models.store import list_models

    rows = [m.to_dict() for m in list_models(open_workspace(workspace))]
    for r in rows:
        r.pop("record")

    def table(v: list[dict[str, Any]]) -> None:
        from cpmap.formats.table import render

        render([{"model": r["ref"], "format": r["format"], "arch": r["arch"],
                 "digest": r["digest"][:16], "created": r["created_at"][:19]} for r in v],
               title=f"{len(v)} model version(s)")

    emit(rows, fmt.value, None, table)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@N or sha256:<hex>.")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Show a model version and its training record (data digests, config, metrics)."""
    from cpmap.core.workspace import open_workspace
    from cpmap.models.store import get_model

    mv = get_model(open_workspace(workspace), ref)

    def table(v: dict[str, Any]) -> None:
        rec = v["record"]
        lines = [f"model      {v['ref']}  ({v['format']}, {v['arch']})",
                 f"digest     sha256:{v['digest']}", f"created    {v['created_at']}",
                 f"evidence   ledger entry {v['entry']}"]
        lines += [f"dataset    {d.get('ref')}  sha256:{d.get('digest')}"
                  for d in rec.get("datasets", [])]
        lines += [f"{key:<10} {rec[key]}" for key in ("seed", "config", "metrics") if key in rec]
        if rec.get("untrusted_types"):
            lines.append(f"skops types needing review: {', '.join(rec['untrusted_types'])}")
        lines.append(f"libraries  {rec.get('libraries', {})}")
        typer.echo("\n".join(lines))

    emit(mv.to_dict(), fmt.value, None, table)


@app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A .safetensors (with spec), .skops or .onnx "
                                              "file, or a trusted pickle.")],
    name: Annotated[str, typer.Option("--name", help="Model name in the workspace.")],
    workspace: WorkspaceOpt = None,
    trust_type: Annotated[list[str] | None, typer.Option(
        "--trust-type", help="A skops type you reviewed and trust (repeatable).")] = None,
) -> None:
    """Load a model file safely and store it as the next version of NAME."""
    from cpmap.core.workspace import open_workspace
    from cpmap.errors import InputError
    from cpmap.models import load
    from cpmap.models.store import file_encoding, save_model

    if not path.is_file():  # add takes a file; load() would look the name up in the store
        raise InputError(f"{path}: " + ("is a directory, not a model file" if path.is_dir()
                                         else "no such file"))
    ws = open_workspace(workspace)
    types = list(trust_type or [])
    with spinner(f"loading and storing {path.name}"):
        model = load(path, ws, trusted_types=types)
        mv = save_model(ws, name, model, {"source": str(path), "trainer": "external",
                                          "types_reviewed": bool(types),
                                          "trusted_types": types},
                        encoded=file_encoding(path.read_bytes(), model))
    stderr_console().print(f"stored {mv.ref} sha256:{mv.digest[:16]} ({mv.format})")


@app.command("trust")
def trust_cmd(
    note: Annotated[str, typer.Option("--note", help="Who reviewed it and why it is safe.")],
    digest: Annotated[str | None, typer.Argument(
        help="SHA-256 of a pickle-based model file.")] = None,
    workspace: WorkspaceOpt = None,
    runs_code: Annotated[bool, typer.Option(
        "--i-know-this-runs-code", help="Required to trust a file the CP3 model scan calls "
        "malicious (recorded in the trust entry).")] = False,
    from_config: Annotated[bool, typer.Option(
        "--from-config", help="Instead of DIGEST: sign a trust entry for each digest listed "
        "in cpmap.toml [models] trusted_pickle_digests (a listing alone grants nothing).")
                           ] = False,
) -> None:
    """Trust one pickle-based model file by digest, after review (recorded in the ledger)."""
    from cpmap.core.workspace import open_workspace
    from cpmap.errors import InputError
    from cpmap.models.trust import trust, trust_listed

    ws = open_workspace(workspace)
    if from_config == (digest is not None):
        raise InputError("give a DIGEST or --from-config (one of them)")
    done = (trust_listed(ws, note, runs_code=runs_code) if digest is None
            else [(digest.removeprefix("sha256:"), trust(ws, digest, note, runs_code=runs_code))])
    for d, index in done:
        stderr_console().print(f"trusted sha256:{d[:16]}… (ledger entry {index})")
    if not done:
        stderr_console().print("every listed digest is already trusted")
