"""git on a hostile repository: nothing its config, attributes or hooks name ever runs.

Each case plants a program that would leave a canary file when git runs it (fsmonitor, an index
hook, clean/smudge/process filters bound by .gitattributes, a textconv and an external diff
driver, a pager, a signature program, GIT_* variables in the environment), then runs cpmap's
git calls: ``registry register``'s commit/dirty check and ``scan secrets --history``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from cpmap.registry.lineage import git_info
from cpmap.supplychain.safegit import git_env
from cpmap.supplychain.secrets.history import scan_history

from .test_secrets import TOKENS

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
TOKEN = TOKENS["stripe-key"]  # a token the history scan must still find


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,  # noqa: S603,S607
                   env=env)


def _hostile_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo, canaries = tmp_path / "repo", tmp_path / "canaries"
    repo.mkdir()
    canaries.mkdir()
    _git(repo, "init", "-q")
    (repo / "model.txt").write_text("weights\n")
    (repo / "conf.py").write_text(f'TOKEN = "{TOKEN}"\n')
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    evil = tmp_path / "evil.sh"
    evil.write_text(f'#!/bin/sh\ntouch "{canaries}/$1"\ncat\n')
    evil.chmod(evil.stat().st_mode | stat.S_IXUSR)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("post-index-change", "pre-commit", "post-checkout"):
        (hooks / hook).write_text(f'#!/bin/sh\ntouch "{canaries}/hook-{hook}"\n')
        (hooks / hook).chmod(0o755)
    for key, value in {
        "core.fsmonitor": f"{evil} fsmonitor", "core.hooksPath": str(hooks),
        "filter.x.clean": f"{evil} clean", "filter.x.smudge": f"{evil} smudge",
        "filter.x.process": f"{evil} process", "filter.x.required": "true",
        "diff.x.textconv": f"{evil} textconv", "diff.external": f"{evil} extdiff",
        "core.pager": f"{evil} pager", "pager.status": f"{evil} pagerstatus",
        "log.showSignature": "true", "gpg.program": f"{evil} gpg",
    }.items():
        _git(repo, "config", key, value)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("* filter=x diff=x\n")
    (repo / "model.txt").write_text("weights changed\n")  # dirty: status must compare it
    os.utime(repo / "conf.py", (1, 1))  # stat-dirty: status would run the clean filter
    return repo, canaries


def test_registry_git_info_runs_nothing_from_the_repo(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    repo, canaries = _hostile_repo(tmp_path)
    monkeypatch.setenv("GIT_EXTERNAL_DIFF", str(tmp_path / "evil.sh"))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))  # scrubbed, else git looks there
    info = git_info(repo)
    assert info is not None and len(info["commit"]) == 40 and info["dirty"] is True
    assert sorted(p.name for p in canaries.iterdir()) == []


def test_history_scan_runs_nothing_from_the_repo(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    repo, canaries = _hostile_repo(tmp_path)
    monkeypatch.setenv("GIT_PAGER", str(tmp_path / "evil.sh"))
    hits = scan_history(repo)
    assert [h.path for h in hits] == ["conf.py"]  # the token of the first commit
    assert sorted(p.name for p in canaries.iterdir()) == []


def test_env_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.fsmonitor=evil'")
    monkeypatch.setenv("GIT_SSH_COMMAND", "evil")
    env = git_env()
    assert "GIT_CONFIG_PARAMETERS" not in env and "GIT_SSH_COMMAND" not in env
    assert env["GIT_CONFIG_NOSYSTEM"] == "1" and env["GIT_OPTIONAL_LOCKS"] == "0"
