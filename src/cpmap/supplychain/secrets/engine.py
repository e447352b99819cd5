"""Match the rules against one text: prefilter, regex, entropy, then context allowlists.

What is *not* a secret matters as much as what is: placeholders (``<your-token>``, ``xxxx``,
``changeme``, ``${VAR}``), lock-file and SRI hashes, UUIDs, git SHAs and references to the
environment are dropped here, so that the findings a user sees are worth rotating.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass

from cpmap.supplychain.secrets.examples import documented
from cpmap.supplychain.secrets.prefilter import Prefilter
from cpmap.supplychain.secrets.rules import GENERIC, LOOSE, RULES, Rule
from cpmap.supplychain.secrets.validators import DUMMY_PASSWORDS

_PLACEHOLDER = ("example", "your", "placeholder", "dummy", "redacted", "sample",
                "<", ">", "${", "{{", "}}", "$(", "%(", "...", "\u2026", "****", "0000000000",
                "1234567890", "abcdefgh", "insert", "replace", "changeme", "change_me",
                "change-me")
_GENERIC_PLACEHOLDER = _PLACEHOLDER + ("password", "passwd", "secret", "token", "fake", "todo",
                                       "fixme", "here", "none", "null", "undefined", "mock",
                                       "environ", "getenv", "env(")
# Words that do not occur by chance in a random token body, but do in hand-made fakes
# (xoxb-my-bot-token, ghp_YourTokenHere); a word that is part of the rule's own prefix
# (notion's secret_, age's AGE-SECRET-KEY-) does not count.
_FAKE_WORDS = ("token", "secret", "mybot", "my-bot", "my_bot", "my-token", "my_token",
               "my-secret", "my_secret", "my-api", "my_api", "placeholder", "insert", "replace",
               "abcdef", "123456", "qwerty", "value", "string", "apikey", "api_key",
               "api-key", "fake", "dummy", "sample", "example", "your", "test1234")
LONG = 80
_SEGMENTS = re.compile(r"[-_.]")
_RUN = re.compile(r"(.)\1{7}")
_HASH_CONTEXT = re.compile(r"(?i)integrity|sha1|sha256|sha384|sha512|--hash|checksum|digest|"
                           r"commit|\brev\b|revision|\bsha\b|md5|etag|nonce|fingerprint")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_KEY = re.compile(r"([\w.\-]+)[\"']?\s*(?:[:=]|==|:=|=>)\s*[rbuf]?[\"']?\Z")
_NOT_SECRET_KEY = re.compile(
    r"tokeni[sz]|tokens\b|(?:^|[_.\-])(?:url|uri|endpoint|host|expir\w*|ttl|timeout|len|length|"
    r"count|limit|file|path|dir|name|type|header|field|prefix|method|policy|provider|rotation|"
    r"version|enabled|required|min|max|size|hint|label|regex|pattern|env|var)$")
_REGEXY = re.compile(r"[\[\]\\]|\(\?")
_TOKENS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_REFERENCE = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+\Z")  # settings.SECRET_KEY


@dataclass(frozen=True)
class Hit:
    rule: Rule
    secret: str
    line: int
    column: int


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def mask(secret: str) -> str:
    """Enough to recognise a secret, never enough to use it."""
    if len(secret) <= 8:
        return secret[:1] + "*" * 7
    keep = 4 if len(secret) >= 16 else 2
    return f"{secret[:keep]}{'*' * min(len(secret) - keep - 2, 16)}{secret[-2:]}"


def fingerprint(rule_id: str, path: str, secret: str) -> str:
    """The baseline key: a hash of rule, path and secret (the secret itself is never stored)."""
    return hashlib.sha256(f"{rule_id}\0{path}\0{secret}".encode()).hexdigest()


def _placeholder(secret: str, generic: bool) -> bool:
    low = secret.lower()
    if len(set(low)) <= 3 or (generic and low[0] in "$%"):  # $VAR, %(name)s
        return True
    if "xxxx" in secret or "XXXX" in secret:  # not xXXx: that occurs in random tokens
        return True
    if generic and "{" in low and "}" in low:  # f-string / str.format / Jinja fields
        return True
    return any(w in low for w in _words(_GENERIC_PLACEHOLDER if generic else _PLACEHOLDER,
                                        secret))


def _words(words: tuple[str, ...], secret: str) -> tuple[str, ...]:
    """In a long random token a short word occurs by chance (``your`` in 1 of ~500 base64
    kubeconfig keys): past LONG characters only words of 6 letters or more, and markers, count."""
    if len(secret) <= LONG:
        return words
    return tuple(w for w in words if len(w) >= 6 or not w.isalpha())


def fake_token(secret: str, rule: Rule) -> bool:
    """A value in the token's shape that no provider issued: made-up words, a segment repeated
    (``xoxb-xoxb-...``, ``abcdef-abcdef``), a run of 8 identical characters."""
    low = secret.lower()
    if any(w in low and not any(w in k for k in rule.keywords)
           for w in _words(_FAKE_WORDS, secret)):
        return True
    if not rule.allow_runs and _RUN.search(secret):
        return True
    parts = [p for p in _SEGMENTS.split(low) if p]
    if len(parts) > 1 and len(parts[0]) >= 3 and parts[0] in parts[1:]:
        return True
    long_parts = [p for p in parts if len(p) >= 6]
    return len(set(long_parts)) < len(long_parts)


def _key_name(line_prefix: str) -> str:
    m = _KEY.search(line_prefix)
    return m.group(1).lower() if m else ""


def wordy(value: str) -> bool:
    """Identifiers, paths and phrases (``STORAGE_CREDENTIAL_EXISTS``, ``/openai/v1/chat``,
    ``FiberForceLength2016``) split into long word tokens; random strings into short runs."""
    tokens = _TOKENS.findall(value)
    return bool(tokens) and sum(map(len, tokens)) / len(tokens) >= 3.5


def _url_password_rejects(secret: str) -> bool:
    return secret.lower() in DUMMY_PASSWORDS or _REGEXY.search(secret) is not None


def _generic_rejects(secret: str, line: str, line_prefix: str) -> bool:
    """Context allowlist for the key-name rules: names that hold no secret (tokenizer, *_url,
    *_expiry...), hashes, UUIDs, URLs, references, YAML tags, plain words."""
    if _NOT_SECRET_KEY.search(_key_name(line_prefix)):
        return True
    if _UUID.fullmatch(secret) or _REFERENCE.match(secret) or "://" in secret:
        return True
    if secret[0] in "!&*@%$":  # YAML tags, anchors and aliases; templating; $VAR
        return True
    if _HEX.match(secret) and len(secret) in (32, 40, 56, 64, 96, 128) and _HASH_CONTEXT.search(
            line):
        return True
    if "integrity" in line.lower() or re.search(r"(?i)sha(?:1|256|384|512)[-:=]", line):
        return True
    has_digit = any(c.isdigit() for c in secret)
    has_alpha = any(c.isalpha() for c in secret)
    return not (has_digit and has_alpha) and len(secret) < 24


class Lines:
    """Offset -> (line, column) for one text, computed only when something matched."""

    def __init__(self, text: str, line_of: list[int] | None = None,
                 starts: list[int] | None = None) -> None:
        self.text = text
        self._starts = starts
        self._line_of = line_of

    def locate(self, offset: int) -> tuple[int, int]:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        i = bisect.bisect_right(self._starts, offset) - 1
        line = self._line_of[i] if self._line_of is not None else i + 1
        return line, offset - self._starts[i] + 1

    def line_text(self, offset: int) -> str:
        start = self.text.rfind("\n", 0, offset) + 1
        end = self.text.find("\n", offset)
        return self.text[start:end if end != -1 else len(self.text)]


_PREFILTER = Prefilter([r.keywords for r in RULES])


def candidate_rules(low: str) -> list[Rule]:
    """The rules one of whose keywords occurs in ``low``, in rule order."""
    return [RULES[i] for i in _PREFILTER.rules_for(low)]


def _rejected(rule: Rule, secret: str, where: Lines, start: int, text: str) -> bool:
    """The not-a-secret checks, cheapest first."""
    generic = rule.id in GENERIC
    loose = rule.id in LOOSE
    if _placeholder(secret, loose) or entropy(secret) < rule.min_entropy:
        return True
    if not loose and fake_token(secret, rule):
        return True
    if rule.validate is not None and not rule.validate(secret):
        return True
    if documented(secret):
        return True
    if generic:
        line_start = text.rfind("\n", 0, start) + 1
        if _generic_rejects(secret, where.line_text(start), text[line_start:start]):
            return True
        if rule.id == "generic-secret" and wordy(secret):
            return True
    return loose and not generic and _url_password_rejects(secret)


def scan_text(text: str, *, config: bool = False, lockfile: bool = False,
              lines: Lines | None = None) -> list[Hit]:
    """Every secret in ``text``; ``config`` enables the assignment rule, ``lockfile`` keeps
    only the token formats (lock files are full of hashes)."""
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII letters grow when lowercased: keep offsets
        low = text.translate(_ASCII_LOWER)
    where = lines or Lines(text)
    hits: list[Hit] = []
    spans: list[tuple[int, int]] = []
    for rule in candidate_rules(low):
        if (rule.config_only and not config) or (lockfile and rule.id in GENERIC):
            continue
        for m in rule.pattern.finditer(low if rule.on_lower else text):
            start, end = m.span(rule.group)
            if start and rule.not_after is not None and rule.not_after.match(text[start - 1]):
                continue  # inside a longer word: not this token
            secret = text[start:end]
            if any(s < end and start < e for s, e in spans):
                continue  # already reported, or judged not a secret, by a more precise rule
            if _rejected(rule, secret, where, start, text):
                if rule.id not in LOOSE:  # the provider's format says no: so does everyone
                    spans.append((start, end))
                continue
            spans.append((start, end))
            line, col = where.locate(m.start() if rule.at_match else start)
            hits.append(Hit(rule, secret, line, col))
    return hits
