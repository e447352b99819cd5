"""``cpmap ledger``: show, verify, prove and export the evidence ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import Fmt, FormatOpt, WorkspaceOpt, emit, emit_json, stderr_console

app = typer.Typer(no_args_is_help=True)


@app.command()
def show(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
    control: Annotated[str | None, typer.Option(help="Only this control, e.g. CP1.")] = None,
    limit: Annotated[int, typer.Option(help="Show the last N entries (0: all).")] = 50,
) -> None:
    """List ledger entries (as their signed statements say) and the latest signed checkpoint."""
    from cpmap.core.ledger import Ledger, own_log
    from cpmap.core.workspace import open_workspace
    from cpmap.errors import InputError

    if limit < 0:  # entries[-limit:] would silently drop the first entries instead
        raise InputError(f"--limit {limit}: must be >= 0 (0: all)")
    ledger = Ledger(open_workspace(workspace))
    own_log(ledger.ws)  # never another workspace's entries shown as this one's
    entries = [e.summary() for e in ledger.entries(control=control)]
    if limit:
        entries = entries[-limit:]
    value = {"size": ledger.size(), "checkpoint": ledger.latest_checkpoint(), "entries": entries}

    def table(v: dict[str, Any]) -> None:
        from cpmap.formats.table import render

        rows = [{"index": e["index"], "time": e["created_at"][:19], "control": e["control"],
                 "kind": e["kind"], "verdict": e["verdict"],
                 "subject": (e["subjects"][0]["name"] if e["subjects"] else "")}
                for e in v["entries"]]
        render(rows, title=f"ledger: {v['size']} entries")
        if v["checkpoint"]:
            typer.echo("\nlatest signed checkpoint:\n" + v["checkpoint"])

    emit(value, fmt, None, table)


@app.command()
def verify(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
    file: Annotated[Path | None, typer.Option("--file", help="Verify an export instead of the "
                                              "workspace ledger.")] = None,
    public_key: Annotated[Path | None, typer.Option("--public-key", help="PEM public key of the "
                                                    "signer (required with --file).")] = None,
    all_signatures: Annotated[bool, typer.Option("--all-signatures", help="Also verify the "
                                                 "signature of every intermediate checkpoint "
                                                 "(their roots are always checked).")] = False,
) -> None:
    """Verify every signature, the tree against each signed checkpoint, and the witness;
    then every table derived from the log (subject index, trusted pickles and keys, privacy
    spends, model aliases) against the signed entries.

    Exit 0 when the ledger is intact, 1 naming the first bad index otherwise.
    """
    from cpmap.core.derived_tables import check_derived
    from cpmap.core.keys import load_public_key
    from cpmap.core.ledger import Ledger, verify_ledger
    from cpmap.core.verify import verify_export
    from cpmap.core.workspace import open_workspace
    from cpmap.errors import InputError

    if file is not None:
        if public_key is None:
            raise InputError("--file needs --public-key: an export is verified against the "
                             "signer's public key only")
        report = verify_export(file, load_public_key(public_key), all_signatures)
    else:
        ws = open_workspace(workspace)
        key = load_public_key(public_key) if public_key else None
        if key is not None and key.keyid != ws.public_key.keyid:
            raise InputError(f"{public_key}: not the workspace key")
        report = verify_ledger(Ledger(ws), all_signatures)
        report.derived = check_derived(ws)  # every cache table against the verified log
    if fmt == Fmt.json:
        emit_json(report.to_dict())
    else:
        out = stderr_console()
        out.print(f"[green]ledger OK[/]: {report.size} entries and their signatures, "
                  f"{report.checkpoints} checkpoints consistent, latest checkpoint signature "
                  f"verified, root {report.root[:16]}…")
        if report.witness_size is not None:
            out.print(f"checkpoint witness at size {report.witness_size} is consistent")
        if report.derived:
            out.print(f"derived tables OK: {sum(report.derived.values())} rows checked against "
                      "the signed log (" + ", ".join(f"{t} {n}" for t, n in
                                                     report.derived.items()) + ")")
        for note in report.notes:
            out.print(f"[yellow]note[/]: {note}")


@app.command()
def proof(
    index: Annotated[int | None, typer.Argument(help="Entry index to prove.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
    from_size: Annotated[int | None, typer.Option("--from-size", help="Instead: a consistency "
                                                  "proof from this earlier tree size.")] = None,
) -> None:
    """Print an inclusion proof for INDEX (or a consistency proof with --from-size), verified."""
    from cpmap.core import merkle
    from cpmap.core.ledger import Ledger
    from cpmap.core.workspace import open_workspace
    from cpmap.errors import InputError, LedgerError

    ledger = Ledger(open_workspace(workspace))
    if from_size is not None:
        old, new, path = ledger.consistency_proof(from_size)
        ok = merkle.verify_consistency(old.size, new.size, old.root, new.root, path)
        value: dict[str, Any] = {"old_size": old.size, "new_size": new.size,
                                 "old_root": old.root.hex(), "new_root": new.root.hex(),
                                 "proof": [p.hex() for p in path], "verified": ok}
    elif index is not None:
        p = ledger.inclusion_proof(index)
        ok = merkle.verify_inclusion(p.leaf_hash, p.index, p.tree_size, p.path, p.root)
        value = {**p.to_dict(), "verified": ok}
    else:
        raise InputError("give an INDEX or --from-size")
    if fmt == Fmt.json:
        emit_json(value)
    else:
        for k, v in value.items():
            typer.echo(f"{k}: " + ("\n  " + "\n  ".join(v) if isinstance(v, list) else str(v)))
    if not ok:
        raise LedgerError("proof does not verify against the signed checkpoint")


@app.command("export")
def export_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON Lines file to write.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Export the ledger for an auditor (verify it with --file and the public key)."""
    from cpmap.core.ledger import Ledger, export_ledger
    from cpmap.core.workspace import open_workspace

    ws = open_workspace(workspace)
    size = export_ledger(Ledger(ws), output)
    stderr_console().print(f"exported {size} entries to {output}; verify with\n"
                           f"  cpmap ledger verify --file {output} --public-key "
                           f"{ws.public_key_path}")
