"""Rule coverage on the labelled corpus (tests/assets/secrets/corpus.py): every positive is
reported by its rule at its line, no negative is reported; the format checks one by one."""

from __future__ import annotations

import importlib.util
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.supplychain.secrets import scan_tree
from cpmap.supplychain.secrets import validators as v
from cpmap.supplychain.secrets.engine import _PREFILTER, scan_text
from cpmap.supplychain.secrets.examples import documented
from cpmap.supplychain.secrets.rules import RULES

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "secrets"


def _corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cpmap_secret_corpus", ASSETS / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


corpus = _corpus()


@pytest.fixture(scope="module", params=[0, 1])
def scanned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[list, list, dict[str, list[tuple[str, int]]]]]:  # type: ignore[type-arg]
    root = tmp_path_factory.mktemp(f"corpus{request.param}")
    pos, neg = corpus.positives(request.param), corpus.negatives(request.param)
    corpus.write(root, pos + neg)
    found: dict[str, list[tuple[str, int]]] = {}
    for f in scan_tree(root).findings:
        found.setdefault(f.path, []).append((f.rule, f.line))
    yield pos, neg, found


def test_every_rule_has_positives_and_a_provider() -> None:
    rules = {ex.rule for ex in corpus.positives(0)}
    assert rules == {r.id for r in RULES}
    assert all(r.provider for r in RULES)


def test_every_positive_is_found_by_its_rule_at_its_line(scanned) -> None:  # type: ignore[no-untyped-def]
    pos, _, found = scanned
    wrong = [(ex.name, found.get(ex.name)) for ex in pos
             if found.get(ex.name) != [(ex.rule, ex.line)]]
    assert wrong == []
    assert len(pos) > 400


def test_no_negative_is_reported(scanned) -> None:  # type: ignore[no-untyped-def]
    _, neg, found = scanned
    assert [(ex.name, ex.why, found[ex.name]) for ex in neg if ex.name in found] == []
    kinds = {ex.provider for ex in neg}
    assert kinds == {"placeholder", "broken format", "decoy", "documented example"}


@pytest.mark.parametrize("line", [
    'SLACK_BOT_TOKEN = "xoxb-xoxb-my-bot-token"', 'token = "xoxb-abcdef-abcdef"',
    'GITHUB_TOKEN = "ghp_MyGitHubTokenHere"', "OPENAI_API_KEY=sk-proj-" + "x" * 48])
def test_issue_placeholders_in_token_shape(line: str) -> None:
    assert scan_text(line, config=True) == []


def test_documented_examples_are_allowlisted_but_only_them() -> None:
    lines = corpus.documented_examples()
    assert len(lines) >= 12
    assert all(scan_text(line, config=True) == [] for line in lines)
    assert documented("AKIAIOSFODNN7EXAMPLE") and not documented("AKIAIOSFODNN7EXAMPLF")


def test_github_and_npm_checksums() -> None:
    rng = random.Random(9)  # noqa: S311 - synthetic
    for prefix in ("ghp", "gho", "ghs", "npm"):
        token = corpus.tok.crc_token(rng, prefix)
        assert v.crc32_suffix(token)
        assert not v.crc32_suffix(token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not v.crc32_suffix("ghp_" + "a" * 35)


def test_bech32_age_key_and_structured_validators() -> None:
    key = corpus.tok._age(random.Random(3))  # noqa: S311 - synthetic
    assert v.bech32(key) and not v.bech32(key[:-1] + ("Q" if key[-1] != "Q" else "P"))
    assert v.basic_credential("dXNlcjpzM2NyZXQ=")  # user:s3cret
    assert not v.basic_credential("aGVsbG8gd29ybGQ=")  # hello world: no colon
    assert v.discord_bot("MTIzNDU2Nzg5MDEyMzQ1Njc4.abcdef.x") and not v.discord_bot("bm90.a.b")
    assert not v.opaque("self.config.api_key") and v.opaque("a8Xk2pQ9zR4tL7mN0vB3cD6fG1hJ5")


def test_anthropic_keys_must_end_in_aa() -> None:
    rng = random.Random(5)  # noqa: S311 - synthetic
    body = corpus._pick(rng, corpus.URLSAFE, 93)
    assert [h.rule.id for h in scan_text(f'K = "sk-ant-api03-{body}AA"')] == ["anthropic-api-key"]
    assert scan_text(f'K = "sk-ant-api03-{body}AB"') == []


def test_azure_client_secret_in_text_and_config() -> None:
    secret = corpus.tok.tokens(4)["azure-ad-client-secret"]
    for text, config in ((f"The app's secret is {secret} (rotate it)", False),
                         (f"AZURE_CLIENT_SECRET={secret}\n", True),
                         (f'{{"clientSecret": "{secret}"}}', True)):
        assert [(h.rule.id, h.secret) for h in scan_text(text, config=config)] == [
            ("azure-ad-client-secret", secret)]


def test_a_token_inside_a_longer_word_is_not_that_token() -> None:
    token = corpus.tok.tokens(6)["github-token"]
    assert scan_text(f"x = 'abc{token}'") == []


_KEYWORDS = sorted(_PREFILTER.keywords)
_CHARS = sorted({c for k in _KEYWORDS for c in k}) + [" ", "\n"]


@given(st.lists(st.sampled_from(_KEYWORDS) | st.text(alphabet=_CHARS, max_size=4),
                max_size=40).map("".join))
@settings(max_examples=300, deadline=None)
def test_prefilter_finds_exactly_the_rules_of_the_keywords_present(text: str) -> None:
    naive = sorted({i for i, r in enumerate(RULES) if any(k in text for k in r.keywords)})
    assert _PREFILTER.rules_for(text) == naive


def test_every_rule_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "cp3-supply-chain.md").read_text()
    assert [r.id for r in RULES if f"`{r.id}`" not in doc] == []


@pytest.mark.parametrize("seed", range(2, 12))
def test_every_rule_finds_fresh_tokens(seed: int) -> None:
    """Random tokens are never mistaken for placeholders (words, runs) or low entropy."""
    from cpmap.supplychain.secrets.files import is_config

    missed = []
    for rule, value in sorted(corpus.tok.tokens(seed).items()):
        name, content = corpus.tok.line_for(rule, value)
        hits = scan_text(content, config=is_config(Path(name).name))
        if [h.rule.id for h in hits] != [rule]:
            missed.append(rule)
    assert missed == []
