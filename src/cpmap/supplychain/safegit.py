"""Running git on a repository cpmap did not write, so that nothing from that repository runs.

A repository's ``.git/config`` can name programs that git runs on its own during read-only
commands: ``core.fsmonitor`` (run by ``git status``), hooks such as ``post-index-change``,
clean/smudge/process filters bound by ``.gitattributes`` (run by ``status`` when a file's stat
data changed), diff ``textconv`` and external diff drivers (``log -p``), ``gpg.program`` when
``log.showSignature`` is set, and a pager. cpmap's git calls (``registry register``'s commit and
dirty check, ``scan secrets --history``) therefore run:

- with the environment scrubbed of every ``GIT_*`` variable (``GIT_DIR``, ``GIT_EXTERNAL_DIFF``,
  ``GIT_CONFIG_PARAMETERS``...), the system config off (``GIT_CONFIG_NOSYSTEM``), no prompts, no
  optional locks (``status`` does not rewrite the index, so no index hook), ``LC_ALL=C``;
- with ``-c`` overrides, which beat every config file: fsmonitor off, hooks at ``/dev/null``,
  no pager, no signature display, no protocol allowed (no network), and
  every filter driver the repository's config names emptied (its names are read first with
  ``git config --get-regexp``, which runs nothing);
- ``safe.directory`` set to the one directory, so a checkout owned by another user is read
  instead of refused; with a timeout, by the absolute path of the ``git`` on PATH, no shell.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess  # noqa: S404 - fixed argv, absolute path, no shell
from pathlib import Path

from cpmap.errors import InputError

_BASE = ("core.fsmonitor=false", "core.hooksPath=/dev/null", "core.pager=cat",
         "pager.log=false", "pager.status=false", "log.showSignature=false",
         "protocol.allow=never", "core.untrackedCache=false",
         "submodule.recurse=false", "credential.helper=")
_FILTER = re.compile(r"^filter\.(.+)\.(?:clean|smudge|process|required)$")


def git_path() -> str | None:
    return shutil.which("git")


def git_env() -> dict[str, str]:
    """This process's environment without ``GIT_*``, with the settings named above."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0",
               GIT_PAGER="cat", PAGER="cat", LC_ALL="C", GIT_ASKPASS="", SSH_ASKPASS="")
    return env


def _base_args(git: str, directory: Path) -> list[str]:
    args = [git, "--no-pager", "-C", str(directory)]
    for setting in (*_BASE, f"safe.directory={directory.resolve()}"):
        args += ["-c", setting]
    return args


def _filter_overrides(git: str, directory: Path, timeout: float) -> list[str]:
    """``-c filter.NAME.*=`` for every filter driver the repository's config defines."""
    try:
        done = subprocess.run([*_base_args(git, directory), "config", "--get-regexp",  # noqa: S603
                               r"^filter\."], capture_output=True, text=True,
                              timeout=timeout, check=False, env=git_env(), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return []
    names = {m.group(1) for line in done.stdout.splitlines()
             if (m := _FILTER.match(line.split(" ", 1)[0]))}
    out: list[str] = []
    for name in sorted(names):
        for key, value in (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false")):
            out += ["-c", f"filter.{name}.{key}={value}"]
    return out


def git_argv(directory: Path, *args: str, timeout: float = 30.0) -> list[str]:
    """The full hardened argv of ``git ARGS`` in ``directory`` (git must be on PATH)."""
    git = git_path()
    if git is None:
        raise InputError("git is not on PATH")
    return [*_base_args(git, directory), *_filter_overrides(git, directory, timeout), *args]


def run_git(directory: Path, *args: str, timeout: float = 30.0
            ) -> subprocess.CompletedProcess[str]:
    """Run ``git ARGS`` hardened; OSError or TimeoutExpired propagate to the caller."""
    return subprocess.run(git_argv(directory, *args, timeout=timeout),  # noqa: S603
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env=git_env(), stdin=subprocess.DEVNULL)
