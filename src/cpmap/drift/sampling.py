"""Raw inputs kept for a sampled share of requests, PII-redacted first (CP9 / CP10).

The prediction log keeps digests, not inputs (CP7/CP8). With ``[monitoring] sample_inputs =
SHARE`` (0 by default: nothing is kept) the rows of that share of requests are kept in their
log entries, so that ``cpmap monitor drift --from-log`` can compare the inputs themselves with
the version's training data, and review and retraining (CP10) have real rows.

Which requests: a keyed hash of the request id below ``SHARE`` (the same request is always in or
out; a client cannot choose its way in without the workspace key). What is kept: a table model's
named columns as the client sent them (decoded from the validated model rows), an array model's
rows as ``features``. Every cell passes the CP2 engine (:class:`RegexAnalyzer`) before it is
written: text spans it finds are masked, a number whose digits it reads as an identifier (a
card, an IBAN, a national id, a phone number) is dropped. This runs in the log writer's thread,
never on the request path.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.gateway.table import TableSpec
    from cpmap.privacy.detect import Analyzer

PRIVATE_KEY = "_inputs"  # where the request path leaves the rows; never written to the log
_SCALE = float(2**64)


class InputSampler:
    """Chooses requests by keyed hash; turns their rows into redacted, loggable inputs."""

    def __init__(self, share: float, key: bytes, table: TableSpec | None = None,
                 analyzer: Analyzer | None = None) -> None:
        if not 0.0 <= share <= 1.0:
            raise InputError(f"[monitoring] sample_inputs: {share} must be a share in [0, 1]")
        from cpmap.privacy.detect import RegexAnalyzer

        self.share, self._key, self.table = share, key, table
        self.analyzer = analyzer or RegexAnalyzer()
        self.kept = 0
        self.redacted = 0  # cells masked or dropped

    def chosen(self, request_id: str) -> bool:
        if self.share <= 0.0:
            return False
        digest = hmac.new(self._key, request_id.encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / _SCALE < self.share

    def prepare(self, entries: list[dict[str, Any]]) -> None:
        """In the writer thread: the chosen entries' rows redacted into ``inputs`` (tables) or
        ``features`` (arrays); every entry's private rows removed."""
        for e in entries:
            rows = e.pop(PRIVATE_KEY, None)
            if rows is None or not self.chosen(str(e.get("id", ""))):
                continue
            x = np.asarray(rows)
            if self.table is not None:
                e["inputs"] = self._columns(x)
            else:
                e["features"] = [[self._cell(v) for v in row]
                                 for row in x.reshape(len(x), -1).tolist()]
            e["sampled"] = True
            self.kept += 1

    def _columns(self, x: np.ndarray) -> dict[str, list[Any]]:
        from cpmap.gateway.table import to_columns

        assert self.table is not None  # noqa: S101 - only called for table models
        return {str(c["name"]): [self._cell(v) for v in c["data"]]
                for c in to_columns(x, self.table)}

    def _cell(self, value: Any) -> Any:
        """The value with PII masked (text) or dropped (a number that is an identifier)."""
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, float) and not value.is_integer():
            return value  # a fraction is not an identifier
        if self.analyzer.analyze(str(int(value))):  # the digits as an identifier would be
            self.redacted += 1
            return None
        return value

    def _text(self, text: str) -> str:
        from cpmap.privacy.transform import mask

        found = sorted(self.analyzer.analyze(text), key=lambda m: (m.start, -m.end))
        if not found:
            return text
        parts, pos = [], 0
        for m in found:
            if m.start < pos:  # overlapping spans: one replacement
                continue
            parts += [text[pos:m.start], mask(m.entity, text[m.start:m.end])]
            pos = m.end
        self.redacted += 1
        return "".join(parts) + text[pos:]


def sampler_for(ws: Any, served: Any, share: float) -> InputSampler | None:
    """The sampler of a gateway serving ``served`` (None: ``share`` 0, nothing kept). Its key
    is derived from the workspace key (as CP8's client-id key is), so the choice is stable
    across restarts and replicas and cannot be predicted from outside."""
    from cpmap.monitor.predlog import client_key

    if share <= 0.0:
        return None
    key = hmac.new(client_key(ws), b"cpmap input sampling v1", hashlib.sha256).digest()
    return InputSampler(share, key, getattr(served.spec, "table", None))


def rows_of(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A logged entry's sampled inputs as one dict per row (``x0..`` for arrays)."""
    inputs = entry.get("inputs")
    if isinstance(inputs, Mapping) and inputs:
        cols = {str(k): list(v) for k, v in inputs.items() if isinstance(v, list)}
        n = max((len(v) for v in cols.values()), default=0)
        return [{k: v[i] for k, v in cols.items() if i < len(v)} for i in range(n)]
    feats = entry.get("features") or []
    feats = feats if feats and isinstance(feats[0], list) else ([feats] if feats else [])
    return [{f"x{j}": v for j, v in enumerate(row)} for row in feats]
