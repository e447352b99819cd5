"""Secret scanning: every rule, the not-secrets, notebooks, history, baseline, masking, CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import init
from cpmap.errors import InputError
from cpmap.supplychain.secrets import scan_tree
from cpmap.supplychain.secrets.engine import mask, scan_text
from cpmap.supplychain.secrets.rules import RULES

from .clirun import run_cli as cli

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "secrets"


def _load_tokens() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cpmap_secret_tokens", ASSETS / "tokens.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tok = _load_tokens()
TOKENS = tok.tokens(seed=1)


def test_every_rule_has_a_planted_example() -> None:
    assert {r.id for r in RULES} - {"slack-webhook", "google-oauth-secret", "wandb-netrc"} \
        <= set(TOKENS)


@pytest.mark.parametrize("rule", sorted(TOKENS))
def test_each_rule_finds_its_token(tmp_path: Path, rule: str) -> None:
    name, content = tok.line_for(rule, TOKENS[rule])
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# settings\n" + content)
    scan = scan_tree(tmp_path)
    first = TOKENS[rule].split("\n")[0]
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if first in text)
    assert [(f.rule, f.path, f.line) for f in scan.findings] == [(rule, name, line)]
    finding = scan.findings[0]
    secret = TOKENS[rule] if rule != "private-key" else TOKENS[rule].split("\n")[1]
    assert secret not in json.dumps(scan.to_dict())
    assert finding.masked != secret and len(finding.masked.replace("*", "")) <= 6


@pytest.mark.parametrize("asset", ["package-lock.json", "poetry.lock", "identifiers.txt",
                                   "placeholders.env", "ml_config.yaml"])
def test_not_secrets(tmp_path: Path, asset: str) -> None:
    shutil.copy(ASSETS / asset, tmp_path / asset)
    assert scan_tree(tmp_path).findings == ()


def test_slack_webhook_netrc_and_google_oauth(tmp_path: Path) -> None:
    rng = tok.random.Random(3)
    hook = "https://hooks.slack.com/services/T" + tok._pick(rng, "ABCDEFGHJK0123456789", 8) \
        + "/B" + tok._pick(rng, "ABCDEFGHJK0123456789", 8) + "/" + tok._pick(rng, tok.ALNUM, 24)
    (tmp_path / "notify.py").write_text(f'HOOK = "{hook}"\n')
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password "
                                     + tok._pick(rng, "0123456789abcdef", 40) + "\n")
    (tmp_path / "oauth.json").write_text('{"client_secret": "GOCSPX-'
                                         + tok._pick(rng, tok.URLSAFE, 28) + '"}\n')
    rules = sorted(f.rule for f in scan_tree(tmp_path).findings)
    assert rules == ["google-oauth-secret", "slack-webhook", "wandb-netrc"]


def test_notebook_lines_are_those_of_the_ipynb_file(tmp_path: Path) -> None:
    text = (ASSETS / "notebook.ipynb").read_text()
    hf, gh = TOKENS["huggingface-token"], TOKENS["github-token"]
    (tmp_path / "train.ipynb").write_text(text.replace("@@SOURCE_TOKEN@@", hf)
                                          .replace("@@OUTPUT_TOKEN@@", gh))
    found = {(f.rule, f.line) for f in scan_tree(tmp_path).findings}
    lines = (tmp_path / "train.ipynb").read_text().splitlines()
    hf_line = next(i for i, line in enumerate(lines, 1) if hf in line)
    gh_line = next(i for i, line in enumerate(lines, 1) if gh in line)
    assert found == {("huggingface-token", hf_line), ("github-token", gh_line)}


def test_binary_and_large_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "blob.dat").write_bytes(b"\0\1\2" + TOKENS["github-token"].encode())
    (tmp_path / "big.txt").write_text("x" * 2048 + TOKENS["github-token"])
    (tmp_path / "model.pt").write_bytes(TOKENS["github-token"].encode())
    scan = scan_tree(tmp_path, max_bytes=1024)
    assert scan.findings == ()
    assert scan.files_skipped == {"binary": 2, "too large": 1}


def test_parallel_scan_matches_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cpmap.supplychain.secrets as secrets_pkg

    for i in range(12):
        rule = sorted(TOKENS)[i % len(TOKENS)]
        name, content = tok.line_for(rule, TOKENS[rule])
        path = tmp_path / f"d{i}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    serial = scan_tree(tmp_path, jobs=1)
    monkeypatch.setattr(secrets_pkg, "PARALLEL_MIN_FILES", 2)
    parallel = scan_tree(tmp_path, jobs=2)
    assert serial.findings == parallel.findings and len(serial.findings) == 12
    assert serial.tree_digest == parallel.tree_digest


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_history_finds_a_removed_secret(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    cfg = tmp_path / "config.py"
    cfg.write_text("DEBUG = True\n")
    _git(tmp_path, "add", "config.py")
    _git(tmp_path, "commit", "-qm", "init")
    cfg.write_text(f'DEBUG = True\nSTRIPE = "{TOKENS["stripe-key"]}"\n')
    _git(tmp_path, "commit", "-qam", "add key")
    cfg.write_text("DEBUG = True\n")
    _git(tmp_path, "commit", "-qam", "remove key")
    assert scan_tree(tmp_path).findings == ()
    found = scan_tree(tmp_path, history=True).findings
    assert [(f.rule, f.path, f.line) for f in found] == [("stripe-key", "config.py", 2)]
    assert found[0].commit and len(found[0].commit) == 40
    cfg.write_text(f'DEBUG = True\nSTRIPE = "{TOKENS["stripe-key"]}"\n')  # back in the tree
    assert [f.commit for f in scan_tree(tmp_path, history=True).findings] == [None]


def test_history_outside_a_repository_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        scan_tree(tmp_path, history=True)


def test_cli_exit_codes_baseline_and_masking(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    name, content = tok.line_for("openai-api-key", TOKENS["openai-api-key"])
    (proj / "svc.py").write_text(content)
    secret = TOKENS["openai-api-key"]
    for fmt in ("table", "json", "sarif"):
        code, out, err = cli(capsys, "scan", "secrets", str(proj), "--format", fmt)
        assert code == 1 and secret not in out + err
    data = json.loads(cli(capsys, "scan", "secrets", str(proj), "-f", "json")[1])
    assert data["findings"][0]["rule"] == "openai-api-key"
    assert data["findings"][0]["path"] == "svc.py" and data["findings"][0]["line"] == 1
    baseline = tmp_path / "baseline.json"
    code, _, _ = cli(capsys, "scan", "secrets", str(proj), "--baseline", str(baseline),
                     "--update-baseline")
    assert code == 0 and secret not in baseline.read_text()
    assert cli(capsys, "scan", "secrets", str(proj), "--baseline", str(baseline))[0] == 0
    (proj / "new.py").write_text(tok.line_for("github-token", TOKENS["github-token"])[1])
    assert cli(capsys, "scan", "secrets", str(proj), "--baseline", str(baseline))[0] == 1
    assert cli(capsys, "scan", "secrets", str(tmp_path / "nope"))[0] == 2
    (tmp_path / "bad.json").write_text("[]")
    assert cli(capsys, "scan", "secrets", str(proj), "--baseline",
               str(tmp_path / "bad.json"))[0] == 2


def test_cli_records_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = init(tmp_path / "ws")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "clean.py").write_text("print('hello')\n")
    assert cli(capsys, "scan", "secrets", str(proj), "-w", str(ws.root))[0] == 0
    (proj / ".env").write_text(tok.line_for("huggingface-token",
                                            TOKENS["huggingface-token"])[1])
    assert cli(capsys, "scan", "secrets", str(proj), "-w", str(ws.root))[0] == 1
    entries = list(Ledger(ws).entries(control="CP3"))
    assert [e.summary()["verdict"] for e in entries] == ["pass", "fail"]
    assert TOKENS["huggingface-token"] not in json.dumps([e.summary() for e in entries])


@given(st.text(max_size=400))
@settings(max_examples=200, deadline=None)
def test_scan_text_never_raises(text: str) -> None:
    for hit in scan_text(text, config=True):
        assert hit.secret in text


@given(st.text(alphabet=tok.ALNUM, min_size=1, max_size=200))
@settings(max_examples=200, deadline=None)
def test_mask_never_reveals_more_than_six_characters(secret: str) -> None:
    masked = mask(secret)
    assert len(masked.replace("*", "")) <= min(6, max(1, len(secret) - 1)) or len(secret) == 1


def test_single_file_and_exclude(tmp_path: Path) -> None:
    name, content = tok.line_for("gitlab-token", TOKENS["gitlab-token"])
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "ci.py").write_text(content)
    (tmp_path / "app.py").write_text(content)
    assert [f.path for f in scan_tree(tmp_path / "app.py").findings] == ["app.py"]
    assert [f.path for f in scan_tree(tmp_path, exclude=("vendor",)).findings] == ["app.py"]
    assert len(scan_tree(tmp_path).findings) == 2


def test_private_key_inside_json_with_escaped_newlines(tmp_path: Path) -> None:
    key = TOKENS["private-key"].replace("\n", "\\n")
    (tmp_path / "sa.json").write_text('{\n  "type": "service_account",\n'
                                      f'  "private_key": "{key}"\n}}\n')
    found = scan_tree(tmp_path).findings
    assert [(f.rule, f.line) for f in found] == [("private-key", 3)]


def test_workspace_config_baseline_and_exclude(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    ws = init(tmp_path)
    (tmp_path / "vendor").mkdir()
    content = tok.line_for("slack-token", TOKENS["slack-token"])[1]
    (tmp_path / "vendor" / "x.py").write_text(content)
    (tmp_path / "app.py").write_text(content)
    with (ws.dir / "cpmap.toml").open("a") as fh:
        fh.write('\n[secrets]\nbaseline = "secrets-baseline.json"\nexclude = ["vendor"]\n')
    code, out, _ = cli(capsys, "scan", "secrets", str(tmp_path), "-w", str(tmp_path), "-f",
                       "json")
    assert code == 1 and [f["path"] for f in json.loads(out)["findings"]] == ["app.py"]
    assert cli(capsys, "scan", "secrets", str(tmp_path), "-w", str(tmp_path),
               "--update-baseline")[0] == 0
    assert (tmp_path / "secrets-baseline.json").exists()
    assert cli(capsys, "scan", "secrets", str(tmp_path), "-w", str(tmp_path))[0] == 0


def test_dollar_inside_a_password_is_still_a_secret(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DB_PASSWORD=Pa$$w0rd!2024xyz\nAPI_PASSWORD=$FROM_ENV\n")
    assert [(f.rule, f.line) for f in scan_tree(tmp_path).findings] == [
        ("credential-assignment", 1)]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_the_tree_is_skipped_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "app.env")  # reading it would block the scan forever
    (tmp_path / "ok.txt").write_text("nothing here\n")
    scan = scan_tree(tmp_path)
    assert scan.files_scanned == 1 and scan.files_skipped == {"unreadable": 1}


@pytest.mark.parametrize(("line", "match"), [("baseline = 5", "baseline must be"),
                                             ("exclude = 5", "exclude must be")])
def test_workspace_config_of_the_wrong_type_is_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, match: str) -> None:
    ws = init(tmp_path)
    with (ws.dir / "cpmap.toml").open("a") as fh:
        fh.write(f"\n[secrets]\n{line}\n")
    code, _, err = cli(capsys, "scan", "secrets", str(tmp_path), "-w", str(tmp_path))
    assert code == 2 and "cpmap.toml: [secrets]" in err and match in err


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_history_never_runs_a_repository_textconv_driver(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".gitattributes").write_text("* diff=evil\n")
    (repo / "a.txt").write_text("hello\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "init")
    # a repository handed over with its .git/config: textconv would run this command
    _git(repo, "config", "diff.evil.textconv", f"sh -c 'touch {canary}; cat \"$0\"'")
    (repo / "a.txt").write_text("hello\nmore\n")
    _git(repo, "commit", "-qam", "more")
    scan_tree(repo, history=True)
    assert not canary.exists()
