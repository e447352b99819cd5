"""The CP10 commands in-process: accounts, bad input as one line and exit 2, watch --once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.retrain.conftest import run_cli


def test_review_user_add_and_list(ws: Any, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEW_PW", "a long enough password")
    code, out, _ = run_cli(capsys, "review", "user", "add", "alice", "--role", "admin",
                           "--password-env", "REVIEW_PW", "-w", str(ws.root), "-f", "json")
    assert code == 0 and json.loads(out) == {"user": "alice", "role": "admin"}
    code, out, _ = run_cli(capsys, "review", "user", "list", "-w", str(ws.root), "-f", "json")
    assert [u["name"] for u in json.loads(out)] == ["alice"]
    assert "argon2" not in out  # never a hash
    from cpmap.review.accounts import check_password

    assert check_password(ws, "alice", "a long enough password") == "admin"
    assert check_password(ws, "alice", "wrong") is None


@pytest.mark.parametrize(("args", "message"), [
    (["review", "user", "add", "bob", "--role", "root", "--password-env", "REVIEW_PW"],
     "--role 'root'"),
    (["rollout", "status", "digits"], "digits: no rollout"),
    (["retrain", "digits"], "digits@production"),
])
def test_bad_input_is_one_line_exit_2(ws: Any, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, args: list[str],
                                      message: str) -> None:
    monkeypatch.setenv("REVIEW_PW", "a long enough password")
    code, out, err = run_cli(capsys, *args, "-w", str(ws.root))
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_watch_once_with_nothing_to_do(ws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "watch", "--once", "-w", str(ws.root), "-f", "json")
    assert code == 0 and json.loads(out) == []
