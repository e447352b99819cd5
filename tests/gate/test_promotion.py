"""Gated promotion, aliases and rollback, with their ledger entries."""

from __future__ import annotations

import pytest

from cpmap.core.ledger import Ledger
from cpmap.errors import InputError
from cpmap.registry.stages import GateFailed, history, promote, rollback, rollback_target, set_alias
from cpmap.registry.versions import aliases, get

from .conftest import Kit


def test_promotion_refused_when_gate_fails(kit: Kit) -> None:
    mv = kit.model()
    with pytest.raises(GateFailed, match="CP1|CP3|CP4") as info:
        promote(kit.ws, mv.ref)
    assert info.value.exit_code == 1
    assert "production" not in aliases(kit.ws, mv.name)
    kinds = [e.summary()["kind"] for e in Ledger(kit.ws).entries(control="CP6")]
    assert kinds[-1] == "registry-promotion-refused"


def test_promote_and_rollback(kit: Kit) -> None:
    versions = []
    for i in range(3):
        mv = kit.model(content=f"weights-{i}".encode())
        kit.everything(mv)
        kit.cp7(mv)  # production also needs a passing gateway check
        move, result = promote(kit.ws, mv.ref)
        assert result.passed and move.version == mv.version
        versions.append(mv.version)
    assert aliases(kit.ws, "clf")["production"] == 3
    back = rollback(kit.ws, "clf")
    assert (back.previous, back.version) == (3, 2)
    assert get(kit.ws, "clf@production").version == 2
    assert rollback(kit.ws, "clf").version == 1
    with pytest.raises(InputError, match="no earlier approved version"):
        rollback(kit.ws, "clf")
    actions = [(h["action"], h["version"]) for h in history(kit.ws, "clf")]
    assert actions == [("promote", 1), ("promote", 2), ("promote", 3), ("rollback", 2),
                       ("rollback", 1)]
    kinds = [e.summary()["kind"] for e in Ledger(kit.ws).entries(control="CP6")]
    assert kinds.count("registry-promotion") == 3 and kinds.count("registry-rollback") == 2


def test_rollback_target_skips_rolled_back_versions() -> None:
    ev = [{"action": "promote", "version": v, "from_version": None} for v in (1, 2, 3)]
    assert rollback_target(ev, 3) == 2
    ev.append({"action": "rollback", "version": 2, "from_version": 3})
    assert rollback_target(ev, 2) == 1
    ev.append({"action": "promote", "version": 4, "from_version": 2})
    assert rollback_target(ev, 4) == 2  # 3 was rolled back from: never again a target
    assert rollback_target([], 1) is None


def test_aliases(kit: Kit) -> None:
    mv = kit.model()
    move = set_alias(kit.ws, mv.ref, "candidate")
    assert get(kit.ws, "clf@candidate").version == mv.version and move.previous is None
    for bad in ("production", "latest", "Bad", "1"):
        with pytest.raises(InputError):
            set_alias(kit.ws, mv.ref, bad)
    with pytest.raises(InputError, match="nothing in production"):
        rollback(kit.ws, "clf")
    with pytest.raises(InputError, match="stage 'candidate': one of production, staging"):
        rollback(kit.ws, "clf", "candidate")


def test_cli_promote_exit_codes(kit: Kit, run_cli) -> None:  # type: ignore[no-untyped-def]
    mv = kit.model()
    refused = run_cli("registry", "promote", mv.ref, "--to", "production")
    assert refused.returncode == 1 and "gate failed" in refused.stderr
    kit.everything(mv)
    kit.cp7(mv)
    ok = run_cli("registry", "promote", mv.ref, "--to", "production")
    assert ok.returncode == 0, ok.stderr
    listed = run_cli("registry", "list", "-f", "json")
    assert '"production"' in listed.stdout


def test_cli_card_to_a_directory_records_nothing(kit: Kit, run_cli) -> None:  # type: ignore[no-untyped-def]
    mv = kit.model()
    (kit.ws.root / "out dir").mkdir()
    before = len(list(Ledger(kit.ws).entries()))
    r = run_cli("registry", "card", mv.ref, "-f", "html", "-o", "out dir")
    assert r.returncode == 2 and "out dir: is a directory" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert len(list(Ledger(kit.ws).entries())) == before


def test_cli_gate_output_under_a_file_is_named(kit: Kit, run_cli) -> None:  # type: ignore[no-untyped-def]
    mv = kit.model()
    (kit.ws.root / "notadir").write_text("x")
    r = run_cli("gate", mv.ref, "-f", "json", "-o", "notadir/gate.json")
    assert r.returncode == 2
    assert r.stderr.strip() == "cpmap: error: notadir/gate.json: notadir is not a directory"
