"""A labelled corpus for the secret rules: positives per provider, and a negative set.

Positives: every rule's token (from tokens.py) in its usual file, the same token in other
settings (YAML, JSON, shell, prose), and the other documented forms of a provider's tokens
(every GitLab prefix, Slack's legacy and config tokens, Stripe's restricted keys...). Negatives:
placeholders in token shape, values that break the provider's format (a wrong checksum, an
Anthropic key not ending in ``AA``), vendors' documented sample keys, and the usual decoys
(digests, UUIDs, SRI hashes). Everything is generated from a seed; nothing was ever issued.
"""

from __future__ import annotations

import base64
import importlib.util
import random
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _tokens_module():  # type: ignore[no-untyped-def]
    name = "cpmap_secret_tokens"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "tokens.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tok = _tokens_module()
_pick, ALNUM, URLSAFE, HEX, UPPER, LOWER = (tok._pick, tok.ALNUM, tok.URLSAFE, tok.HEX,
                                            tok.UPPER, tok.LOWER)


@dataclass(frozen=True)
class Example:
    """One file: ``rule`` is the rule that must report ``secret`` (None: nothing may)."""

    name: str
    content: str
    provider: str
    rule: str | None
    secret: str | None
    why: str = ""

    @property
    def line(self) -> int:
        assert self.secret is not None
        first = self.secret.split("\n")[0]
        return next(n for n, t in enumerate(self.content.splitlines(), 1) if first in t)


def _variants(rng: random.Random) -> list[tuple[str, str]]:
    """(rule, value): the provider's other documented token forms."""
    gl = [f"{p}-{_pick(rng, URLSAFE, 20)}" for p in ("gldt", "glrt", "glsoat", "glft", "glimt",
                                                     "glagent", "gloas", "glffct")]
    gl += [f"glcbt-{_pick(rng, ALNUM, 2)}_{_pick(rng, URLSAFE, 20)}",
           f"glptt-{_pick(rng, HEX, 40)}",
           f"glpat-{_pick(rng, URLSAFE, 27)}.01.{_pick(rng, LOWER, 9)}"]
    n = lambda k: str(rng.randint(10 ** (k - 1), 10 ** k - 1))  # noqa: E731
    slack = [f"xoxp-{n(11)}-{n(11)}-{n(13)}-{_pick(rng, HEX, 32)}",
             f"xoxa-2-{n(11)}-{n(11)}-{n(13)}-{_pick(rng, HEX, 64)}",
             f"xoxs-{n(10)}-{n(10)}-{n(10)}-{_pick(rng, HEX, 64)}",
             f"xoxr-{n(10)}-{_pick(rng, ALNUM, 40)}",
             f"xoxe.xoxp-1-{_pick(rng, UPPER, 160)}",
             f"xoxe-1-{_pick(rng, UPPER, 146)}",
             f"xapp-1-A{_pick(rng, UPPER, 10)}-{n(13)}-{_pick(rng, HEX, 64)}"]
    out = [("gitlab-token", v) for v in gl] + [("slack-token", v) for v in slack]
    out += [("github-token", tok.crc_token(rng, p)) for p in ("gho", "ghu", "ghs", "ghr")]
    out += [("stripe-key", f"{p}_{_pick(rng, ALNUM, 99)}")
            for p in ("rk_live", "rk_prod", "sk_test", "rk_test")]
    out += [("stripe-key", "whsec_" + _pick(rng, ALNUM, 32)),
            ("slack-webhook", f"http://hooks.slack.com/services/T{_pick(rng, UPPER, 8)}/"
                              f"B{_pick(rng, UPPER, 10)}/{_pick(rng, ALNUM, 24)}"),
            ("newrelic-key", "NRII-" + _pick(rng, URLSAFE, 32)),
            ("newrelic-key", "NRJS-" + _pick(rng, HEX, 19)),
            ("newrelic-key", _pick(rng, HEX, 36) + "NRAL"),
            ("grafana-token", "glc_" + _pick(rng, ALNUM, 120)),
            ("flyio-token", "fm2_" + _pick(rng, tok.B64, 180)),
            ("vault-token", "hvb." + _pick(rng, URLSAFE, 150)),
            ("jfrog-token", "cmVmdGtuOjAxOj" + _pick(rng, ALNUM, 50)),
            ("sentry-token", "sntrys_" + tok._b64json({"iat": rng.randint(10**9, 2 * 10**9),
                                                       "url": "https://sentry.io",
                                                       "org": _pick(rng, LOWER, 8)})
             .replace("=", "") + "_" + _pick(rng, ALNUM, 43)),
            ("square-token", "sq0csp-" + _pick(rng, URLSAFE, 43)),
            ("square-token", "sq0atp-" + _pick(rng, URLSAFE, 22)),
            ("notion-token", "secret_" + _pick(rng, ALNUM, 43)),
            ("supabase-token", "sb_secret_" + _pick(rng, URLSAFE, 31)),
            ("dropbox-token", "sl.u." + _pick(rng, URLSAFE, 180)),
            ("vault-token", "hvs." + _pick(rng, URLSAFE, 110)),
            ("anthropic-api-key", "sk-ant-admin01-" + _pick(rng, URLSAFE, 93) + "AA"),
            ("openai-api-key", "sk-svcacct-" + _pick(rng, URLSAFE, 120)),
            ("huggingface-token", "api_org_" + _pick(rng, tok.string.ascii_letters, 34))]
    return out


def _settings(value: str, rng: random.Random) -> list[tuple[str, str]]:
    """The same value where it also turns up: a YAML setting, a JSON file, a shell export,
    a sentence in the docs."""
    var = rng.choice(["SERVICE_TOKEN", "API_KEY", "CLIENT_SECRET", "AUTH"])
    return [("ci/settings.yaml", f"deploy:\n  {var.lower()}: {value}\n"),
            ("conf/app.json", f'{{\n  "{var.lower()}": "{value}"\n}}\n'),
            ("scripts/env.sh", f"#!/bin/sh\nexport {var}='{value}'\n"),
            ("docs/setup.md", f"Then run the job with `{value}` as the credential.\n")]


def _owner(rule: str) -> str:
    from cpmap.supplychain.secrets.rules import RULES

    return next(r.provider for r in RULES if r.id == rule)


def positives(seed: int = 0) -> list[Example]:
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    out: list[Example] = []
    for rule, value in sorted(tok.tokens(seed).items()):
        name, content = tok.line_for(rule, value)
        out.append(Example(f"pos/{rule}/{name}", f"# {rule}\n{content}", _owner(rule), rule,
                           value))
        if rule not in tok.NAMES and "\n" not in value and tok.line_for(rule, value)[0].startswith(
                "src/"):  # a format rule: the shape alone must do, in any setting
            for i, (n, c) in enumerate(_settings(value, rng)):
                out.append(Example(f"pos/{rule}/s{i}/{n}", c, _owner(rule), rule, value))
    for i, (rule, value) in enumerate(_variants(rng)):
        out.append(Example(f"pos/{rule}/v{i}.py", f'TOKEN = "{value}"\n', _owner(rule), rule,
                           value))
    return out


def _placeholders(rng: random.Random) -> list[tuple[str, str]]:
    """(why, line) in token shape, but hand-made."""
    return [
        ("repeated prefix", 'SLACK_BOT_TOKEN = "xoxb-xoxb-my-bot-token"'),
        ("repeated segment", 'slack_token: "xoxb-abcdef-abcdef"'),
        ("words", 'GITHUB_TOKEN = "ghp_YourGitHubPersonalAccessTokenHere12"'),
        ("words", 'token = "glpat-ReplaceWithYourTokenHere"'),
        ("run of x", "OPENAI_API_KEY=sk-proj-" + "x" * 48),
        ("run of 0", "STRIPE_KEY=sk_live_" + "0" * 24),
        ("angle brackets", "ANTHROPIC_API_KEY=sk-ant-api03-<your-key>"),
        ("ellipsis", 'key = "sk-ant-api03-..."'),
        ("words", 'HF_TOKEN = "hf_TokenHereTokenHereTokenHereTokenHe"'),
        ("words", "AZURE_CLIENT_SECRET=abc8Q~ThisIsNotARealSecretValueHere1234"),
        ("repeated", "NEWRELIC_KEY=NRAK-" + "A" * 27),
        ("sample", "DD_API_KEY=" + "sample" + _pick(rng, HEX, 26)),
        ("template", "Authorization: Bearer ${API_TOKEN}"),
        ("template", "curl -u $USER:$PASSWORD https://api.internal.io/"),
        ("stock password", "curl -u admin:admin https://localhost:8080/"),
        ("template", 'headers = {"Authorization": "Bearer {token}"}'),
    ]


def _broken(rng: random.Random) -> list[tuple[str, str]]:
    """(why, line): the right prefix and charset, a format no provider issues."""
    good = tok.crc_token(rng, "ghp")
    bad_crc = good[:-1] + ("A" if good[-1] != "A" else "B")
    npm = tok.crc_token(rng, "npm")
    age = tok._age(rng)
    not_digits = base64.urlsafe_b64encode(b"3notauserid1234567").decode().rstrip("=")
    return [
        ("GitHub CRC32 mismatch", f'GITHUB_TOKEN = "{bad_crc}"'),
        ("npm CRC32 mismatch", f"//registry.npmjs.org/:_authToken={npm[:-2]}zz"),
        ("Anthropic key not ending in AA",
         f'ANTHROPIC_KEY = "sk-ant-api03-{_pick(rng, URLSAFE, 93)}BB"'),
        ("age bech32 checksum", f"# secret: {age[:-1]}{'Q' if age[-1] != 'Q' else 'P'}"),
        ("Discord id not a snowflake",
         f'DISCORD_TOKEN = "{not_digits}.{_pick(rng, URLSAFE, 6)}.{_pick(rng, URLSAFE, 38)}"'),
        ("Basic credential not user:password",
         f"Authorization: Basic {base64.b64encode(rng.randbytes(24)).decode()}"),
        ("JWT header not JSON", f'AUTH = "eyJ{_pick(rng, ALNUM, 20)}.eyJ{_pick(rng, ALNUM, 20)}.'
                                f'{_pick(rng, URLSAFE, 30)}"'),
        ("Grafana legacy key not JSON", f"GRAFANA = eyJrIjoi{_pick(rng, ALNUM, 70)}"),
        ("Slack token without an id", 'SLACK = "xoxb-NoDigitsAnywhereInThisOne-Abc"'),
    ]


def _decoys(rng: random.Random) -> list[tuple[str, str]]:
    return [
        ("git SHA", f'commit_sha = "{_pick(rng, HEX, 40)}"'),
        ("UUID", f'REQUEST_ID = "{tok._uuid(rng)}"'),
        ("SRI hash", '"integrity": "sha512-' + base64.b64encode(rng.randbytes(64)).decode()
                     + '"'),
        ("checksum", f'checksum = "sha256:{_pick(rng, HEX, 64)}"'),
        ("base64 image", f'PNG = "{base64.b64encode(rng.randbytes(60)).decode()}"'),
        ("env lookup", 'api_key = os.environ["DATADOG_API_KEY"]'),
        ("CSS colour", "color: #a1b2c3; background: #ffffff;"),
        ("docker digest", f"image: python@sha256:{_pick(rng, HEX, 64)}"),
        ("k8s secret ref", "secretKeyRef:\n  name: datadog-secret\n  key: api-key"),
    ]


def negatives(seed: int = 0) -> list[Example]:
    rng = random.Random(seed + 7919)  # noqa: S311 - synthetic data
    out: list[Example] = []
    groups = (("placeholder", _placeholders(rng)), ("broken format", _broken(rng)),
              ("decoy", _decoys(rng)))
    for kind, items in groups:
        for i, (why, line) in enumerate(items):
            out.append(Example(f"neg/{kind.replace(' ', '-')}/{i}.py", line + "\n", kind, None,
                               None, why))
    for i, line in enumerate(documented_examples()):
        out.append(Example(f"neg/documented/{i}.py", line + "\n", "documented example", None,
                           None, "vendor's documented sample key"))
    return out


def documented_examples() -> list[str]:
    """The lines of documented_examples.txt (comments and blank lines dropped)."""
    text = (HERE / "documented_examples.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def write(root: Path, examples: list[Example]) -> None:
    for ex in examples:
        path = root / ex.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ex.content, encoding="utf-8")
