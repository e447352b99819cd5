"""``cpmap data``: CP1 fingerprints, signed manifests, dataset registration and lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import (
    Fmt,
    FormatOpt,
    OutputOpt,
    WorkspaceOpt,
    emit,
    emit_json,
    stderr_console,
    write_text,
)

app = typer.Typer(no_args_is_help=True)

PathArg = Annotated[Path, typer.Argument(help="A file, a directory tree, or a CSV/Parquet table.")]


@app.command("fingerprint")
def fingerprint_cmd(
    path: PathArg,
    fmt: Annotated[Fmt, typer.Option("--format", "-f", help="json: the in-toto statement; "
                                     "table: sha256sum-style listing.")] = Fmt.json,
    output: OutputOpt = None,
    workers: Annotated[int | None, typer.Option(help="Hashing threads (default: cores + 1).")]
    = None,
    engine: Annotated[str, typer.Option(help="local (threads) or dask (a tree's files hashed "
                                        "on Dask workers; same digests).")] = "local",
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler (tcp://HOST:PORT); "
                                                  "default: a local 2-worker cluster.")] = None,
) -> None:
    """Streamed SHA-256 of every file, a root digest, and a table digest for CSV/Parquet."""
    from cpmap.cli.fingerprint import run_fingerprint

    run_fingerprint(path, fmt.value, output, workers, engine, scheduler)


@app.command()
def sign(
    path: PathArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Attestation file to write.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Write a DSSE-signed in-toto manifest of PATH, signed by the workspace key."""
    from cpmap.core.workspace import open_workspace
    from cpmap.provenance import manifest

    ws = open_workspace(workspace)
    fp, env = manifest.sign_fingerprint(path, ws.signing_key)
    write_text(manifest.dump(env), output)
    manifest.record_signature(ws, path, fp, output)


@app.command()
def verify(
    path: PathArg,
    attestation: Annotated[Path, typer.Option("--attestation", "-a", help="DSSE attestation.")],
    workspace: WorkspaceOpt = None,
    public_key: Annotated[Path | None, typer.Option("--public-key", help="Trust this PEM key "
                                                    "instead of the workspace trust store.")]
    = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Exit 0 only if every file matches and the signature is from a trusted key; else 1."""
    from cpmap.core.keys import load_public_key
    from cpmap.provenance import manifest

    env = manifest.read_attestation(attestation)
    ws = None
    if public_key is not None:
        keys = [load_public_key(public_key, "given")]
    else:
        from cpmap.core.workspace import open_workspace
        from cpmap.provenance.trust import trusted_public_keys

        ws = open_workspace(workspace)
        keys = trusted_public_keys(ws)
    result = manifest.verify(path, env, keys)
    if ws is not None:
        manifest.record_verification(ws, path, result)
    emit(result.to_dict(), fmt, None, _verify_table)
    if not result.ok:
        raise typer.Exit(1)


def _verify_table(v: dict[str, Any]) -> None:
    out = stderr_console()
    signer = v["signed_by"]
    trusted = f"[green]trusted key {signer}[/]" if signer else "[red]not from a trusted key[/]"
    out.print(f"signature: {trusted}")
    for kind in ("modified", "missing", "added"):
        for name in v[kind]:
            out.print(f"[red]{kind:9}[/] {name}")
    out.print("[green]OK[/]: every file matches" if v["ok"] else "[red]FAILED[/]")


@app.command()
def register(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    path: PathArg,
    source: Annotated[str | None, typer.Option(help="Where the data came from (URI); default: "
                                               "file:// URI of PATH.")] = None,
    supplier: Annotated[str | None, typer.Option(help="Trusted key name of the supplier.")] = None,
    attestation: Annotated[Path | None, typer.Option(help="Supplier's DSSE attestation.")] = None,
    license: Annotated[str, typer.Option(help="License of the data (SPDX id).")] = "",
    allow_untrusted: Annotated[bool, typer.Option("--allow-untrusted", help="Register despite an "
                                                  "untrusted source or failed attestation "
                                                  "(recorded as a finding).")] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Record a dataset version (digest, source, supplier, license, size) in the ledger."""
    from cpmap.core.workspace import open_workspace
    from cpmap.provenance.datasets import register_dataset

    ws = open_workspace(workspace)
    dv = register_dataset(ws, name, path, source=source, supplier=supplier,
                          attestation=attestation, license=license,
                          allow_untrusted=allow_untrusted)
    emit(dv.to_dict(), fmt, None, lambda v: stderr_console().print(
        f"registered [bold]{v['ref']}[/] sha256:{v['digest'][:16]}… ({v['files']} file(s), "
        f"{v['size_bytes']} bytes) from {v['source']} (ledger #{v['entry']})"))


@app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """List registered dataset versions."""
    from cpmap.core.workspace import open_workspace
    from cpmap.provenance.datasets import list_datasets

    rows = [d.to_dict() for d in list_datasets(open_workspace(workspace))]

    def table(v: list[dict[str, Any]]) -> None:
        from cpmap.formats.table import render

        render([{"dataset": r["ref"], "digest": r["digest"][:16], "files": r["files"],
                 "bytes": r["size_bytes"], "source": r["source"], "created": r["created_at"]}
                for r in v], title="datasets")

    emit(rows, fmt, None, table)


@app.command()
def lineage(
    name: Annotated[str, typer.Argument(help="Dataset name or name@version.")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Show the chain of digests from the sources to this dataset version."""
    from cpmap.core.workspace import open_workspace
    from cpmap.provenance.lineage import lineage_of

    node = lineage_of(open_workspace(workspace), name)
    if fmt == Fmt.json:
        emit_json(node.to_dict())
        return
    from rich.tree import Tree

    from cpmap.cli.common import stdout_console

    def label(n: Any) -> str:
        ref = n.dataset.ref if n.dataset else "(unregistered)"
        src = f" from {n.dataset.source}" if n.dataset and not n.parents else ""
        via = f" <- [cyan]{n.transform}[/]" if n.transform else ""
        return f"[bold]{ref}[/] sha256:{n.digest[:16]}{via}{src}"

    def build(tree: Any, n: Any) -> None:
        for p in n.parents:
            build(tree.add(label(p)), p)

    root = Tree(label(node))
    build(root, node)
    stdout_console().print(root)
