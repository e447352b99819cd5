"""Output filters: what a text answer (upstream chat mode) may carry back, and abstention.

:class:`TextFilter` runs, in order: configured deny patterns (block), secrets through CP3's
rule engine, PII through CP2's regex engine (each redacted or blocking, per policy), then the
quarantine checks: empty, degenerate (one token or a short phrase repeated), and a declared
JSON Schema the answer must satisfy. :class:`StreamFilter` applies the same to an SSE stream
chunk by chunk: it holds back only a tail long enough for a secret or PII value to span the
chunk boundary (``hold`` characters, cut at whitespace and never inside a value the filters
see in the held text), so the answer is never buffered whole, except under a declared JSON
schema (only a whole answer can be checked against it). :func:`abstain` is the classifier's
counterpart: rows under a confidence floor.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from cpmap.errors import InputError

HOLD = 96  # longest token a filter must see whole across chunks (secrets, IBANs)


@dataclass(frozen=True)
class Filtered:
    action: str  # pass | redacted | blocked | quarantined
    text: str
    reasons: tuple[str, ...] = ()


def degenerate(text: str) -> str | None:
    """Why ``text`` is empty or degenerate, or None."""
    stripped = text.strip()
    if not stripped:
        return "empty answer"
    tokens = re.findall(r"\w+", stripped.lower())
    if len(tokens) >= 12:
        top, count = Counter(tokens).most_common(1)[0]
        if count / len(tokens) > 0.5:
            return f"degenerate answer ({top!r} is {count}/{len(tokens)} tokens)"
        if len(set(tokens)) / len(tokens) < 0.1:
            return "degenerate answer (a phrase repeated)"
    if len(stripped) >= 20 and len(set(stripped)) <= 2:
        return "degenerate answer (one character repeated)"
    return None


class TextFilter:
    def __init__(self, pii: str = "redact", secrets: str = "redact",
                 deny: Iterable[str] = (), schema: dict[str, Any] | None = None) -> None:
        try:
            self.deny = tuple(re.compile(p, re.IGNORECASE) for p in deny)
        except re.error as e:
            raise InputError(f"[monitoring] deny_patterns: {e}") from e
        self.pii, self.secrets = pii, secrets
        self.schema = schema
        self._analyzer: Any = None
        if schema is not None:
            from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

            Draft202012Validator.check_schema(schema)

    def redact(self, text: str) -> tuple[str, list[str], list[str]]:
        """(text with secrets and PII masked, secret rules hit, PII entities hit)."""
        from cpmap.supplychain.secrets.engine import mask, scan_text

        rules: list[str] = []
        if self.secrets != "off":
            for hit in sorted(scan_text(text, config=True), key=lambda h: -len(h.secret)):
                text = text.replace(hit.secret, mask(hit.secret))
                rules.append(hit.rule.id)
        entities: list[str] = []
        if self.pii != "off":
            from cpmap.privacy.transform import mask as pii_mask

            if self._analyzer is None:
                from cpmap.privacy.detect import RegexAnalyzer

                self._analyzer = RegexAnalyzer()
            parts, pos = [], 0
            for m in self._analyzer.analyze(text):
                parts += [text[pos:m.start], pii_mask(m.entity, text[m.start:m.end])]
                entities.append(m.entity)
                pos = m.end
            text = "".join(parts) + text[pos:]
        return text, rules, entities

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where a deny pattern, a secret or a PII value lies in ``text`` (a stream is never
        cut inside one of them)."""
        out = [m.span() for p in self.deny for m in p.finditer(text)]
        if self.secrets != "off":
            from cpmap.supplychain.secrets.engine import scan_text

            for hit in scan_text(text, config=True):
                at = text.find(hit.secret)
                while at >= 0 and hit.secret:
                    out.append((at, at + len(hit.secret)))
                    at = text.find(hit.secret, at + 1)
        if self.pii != "off":
            if self._analyzer is None:
                from cpmap.privacy.detect import RegexAnalyzer

                self._analyzer = RegexAnalyzer()
            out += [(m.start, m.end) for m in self._analyzer.analyze(text)]
        return out

    def apply(self, text: str, *, final: bool = True) -> Filtered:
        for p in self.deny:
            if p.search(text):
                return Filtered("blocked", "", (f"deny pattern {p.pattern!r}",))
        clean, rules, entities = self.redact(text)
        if (rules and self.secrets == "block") or (entities and self.pii == "block"):
            return Filtered("blocked", "", tuple(f"secret {r}" for r in rules) +
                            tuple(f"PII {e}" for e in entities))
        reasons = tuple(f"secret {r} redacted" for r in rules) + tuple(
            f"PII {e} redacted" for e in entities)
        if final:
            why = degenerate(text) or self._schema_problem(clean)  # the model's own words
            if why is not None:
                return Filtered("quarantined", "", (why, *reasons))
        return Filtered("redacted" if reasons else "pass", clean, reasons)

    def _schema_problem(self, text: str) -> str | None:
        if self.schema is None:
            return None
        from jsonschema import Draft202012Validator

        try:
            doc = json.loads(text)
        except ValueError:
            return "answer is not the JSON its schema declares"
        error = next(iter(Draft202012Validator(self.schema).iter_errors(doc)), None)
        return None if error is None else f"answer fails its JSON schema: {error.message[:80]}"


class StreamFilter:
    """Filter an answer arriving in pieces; emit what is safe as soon as it is safe."""

    def __init__(self, base: TextFilter, hold: int = HOLD) -> None:
        self.base, self.hold = base, hold
        self._pending = ""
        self.seen = ""
        self.blocked: Filtered | None = None
        self.reasons: list[str] = []

    def feed(self, chunk: str) -> str:
        """The filtered text that may go out now ("" while held back or once blocked)."""
        if self.blocked is not None:
            return ""
        self.seen += chunk
        self._pending += chunk
        if len(self._pending) <= self.hold or self.base.schema is not None:
            return ""
        cut = self._cut()
        if cut <= 0:
            return ""
        head, self._pending = self._pending[:cut], self._pending[cut:]
        return self._emit(head, final=False)

    def _cut(self) -> int:
        """Where the held text may be split: at least ``hold`` characters from its end, after
        a space (or anywhere once four ``hold`` pass without one), and never inside a value
        that a filter finds in the held text (the value goes out whole, later)."""
        limit = len(self._pending) - self.hold
        cut = self._pending.rfind(" ", 0, limit) + 1
        if cut <= 0 and len(self._pending) > 4 * self.hold:
            cut = limit
        spans = self.base.spans(self._pending) if cut > 0 else []
        moved = True
        while moved and cut > 0:
            moved = False
            for start, end in spans:
                if start < cut < end:
                    cut, moved = start, True
        return cut

    def finish(self) -> str:
        """The rest, with the whole-answer checks (empty, degenerate, schema)."""
        if self.blocked is not None:
            return ""
        tail = self._emit(self._pending, final=False)
        self._pending = ""
        whole = self.base.apply(self.seen, final=True)
        if whole.action in ("blocked", "quarantined"):
            self.blocked = whole
            return ""
        return tail

    def _emit(self, text: str, final: bool) -> str:
        out = self.base.apply(text, final=final)
        if out.action == "blocked":
            self.blocked = out
            return ""
        self.reasons += out.reasons
        return out.text


def sse_events(lines: Iterable[str], filt: StreamFilter) -> Iterator[str]:
    """Filter an OpenAI-style SSE stream (``data: {json}`` lines) incrementally."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            rest = filt.finish()
            if rest:
                yield _delta(rest)
            if filt.blocked is not None:
                yield _delta("[response withheld by the output filter]")
            yield "data: [DONE]\n\n"
            return
        try:
            piece = json.loads(data)["choices"][0]["delta"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            continue
        out = filt.feed(str(piece))
        if out:
            yield _delta(out)


def _delta(text: str) -> str:
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}) + \
        "\n\n"


def abstain(probs: np.ndarray, floor: float) -> np.ndarray:
    """Rows whose top probability is below ``floor`` (the classifier abstains on them)."""
    out: np.ndarray = probs.max(axis=1) < floor
    return out
