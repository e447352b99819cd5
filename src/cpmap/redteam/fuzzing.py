"""Fuzzing: send malformed and extreme inputs and classify what the model does with them.

A careful model refuses what lies outside its input domain with a clear error (``ValueError``,
``TypeError`` or a cpmap :class:`~cpmap.errors.Error` in process; a 4xx over HTTP) and answers
everything else with valid probabilities. Anything else is an :class:`Outcome` worth a finding:
an unhandled exception (crash), no answer within the timeout (hang), non-finite or malformed
probabilities, a confident answer to input it should have refused, a 5xx or a traceback.

For each probe Hypothesis searches ``examples`` inputs and shrinks the first bad one, so the
reproduction in a finding is minimal and replays from the seed.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed
from hypothesis.errors import HypothesisException, InvalidArgument

from cpmap.errors import Error
from cpmap.redteam.fuzz_inputs import PROBES, Case, describe, probes

GOOD = ("ok", "rejected")
# Outcome kind -> rule id.
RULE_FOR = {"crash": "CP5-FUZZ-CRASH", "hang": "CP5-FUZZ-HANG",
            "invalid-output": "CP5-FUZZ-NONFINITE", "accepted-invalid": "CP5-FUZZ-UNVALIDATED",
            "http-5xx": "CP5-FUZZ-HTTP5XX", "traceback": "CP5-FUZZ-TRACEBACK"}
_REJECTIONS = (ValueError, TypeError, Error)


@dataclass(frozen=True)
class Outcome:
    kind: str  # ok | rejected | one of RULE_FOR
    detail: str = ""

    @property
    def bad(self) -> bool:
        return self.kind not in GOOD


Caller = Callable[[Case], Outcome]


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    calls: int
    outcome: Outcome
    example: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"probe": self.probe, "calls": self.calls, "outcome": self.outcome.kind,
                "detail": self.outcome.detail, "example": self.example}


@dataclass(frozen=True)
class FuzzReport:
    results: tuple[ProbeResult, ...]
    examples: int
    seed: int
    timeout_s: float

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.results)

    def failures(self) -> list[ProbeResult]:
        return [r for r in self.results if r.outcome.bad]

    def metrics(self) -> dict[str, Any]:
        return {"probes": len(self.results), "calls": self.calls,
                "failing_probes": len(self.failures()),
                "outcomes": {r.probe: r.outcome.kind for r in self.results},
                "examples_per_probe": self.examples, "timeout_s": self.timeout_s}


def check_probabilities(value: Any, case: Case, n_classes: int) -> Outcome:
    """Is ``value`` a valid answer to ``case``?"""
    try:
        p = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        return Outcome("invalid-output", f"answer is not numeric: {e}")
    rows = len(case.value) if isinstance(case.value, np.ndarray) and case.value.ndim > 1 \
        else None
    if p.ndim != 2 or p.shape[1] != n_classes or (rows is not None and p.shape[0] != rows):
        return Outcome("invalid-output", f"answer has shape {p.shape}, expected "
                       f"({rows if rows is not None else 'n'}, {n_classes})")
    if not np.isfinite(p).all():
        return Outcome("invalid-output", "non-finite probabilities (NaN or inf)")
    if p.size and ((p < -1e-6).any() or (p > 1 + 1e-6).any()
                   or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3)):
        return Outcome("invalid-output", "probabilities outside [0, 1] or not summing to 1")
    if case.invalid and p.size:
        return Outcome("accepted-invalid", f"answered {case.what} with a prediction "
                       f"(top probability {float(p.max()):.3f}) instead of refusing it")
    return Outcome("ok")


def _with_timeout(fn: Callable[[], Any], timeout_s: float) -> tuple[str, Any]:
    """Run ``fn`` in a daemon thread: ("ok", value), ("error", exc) or ("timeout", None)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - classified by the caller
            box["error"] = e

    t = threading.Thread(target=work, daemon=True, name="cpmap-fuzz-call")
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        return "timeout", None
    return ("error", box["error"]) if "error" in box else ("ok", box.get("value"))


def local_caller(predict: Callable[[Any], Any], n_classes: int,
                 timeout_s: float = 5.0) -> Caller:
    """Call an in-process ``predict_proba`` with each case."""

    def call(case: Case) -> Outcome:
        status, value = _with_timeout(lambda: predict(case.value), timeout_s)
        if status == "timeout":
            return Outcome("hang", f"no answer within {timeout_s:g}s")
        if status == "error":
            if isinstance(value, _REJECTIONS):
                return Outcome("rejected", f"{type(value).__name__}")
            return Outcome("crash", f"unhandled {type(value).__name__}: {str(value)[:160]}")
        return check_probabilities(value, case, n_classes)

    return call


class _Found(Exception):
    pass


def run_probe(name: str, strategy: Any, caller: Caller, examples: int, seed: int) -> ProbeResult:
    """Search one probe; return its first bad outcome (shrunk) or the last good one."""
    calls = 0
    bad: list[tuple[Outcome, Case]] = []
    last = Outcome("ok")
    hung = False

    @hseed(seed)
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink), print_blob=False,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(strategy)
    def prop(case: Case) -> None:
        nonlocal calls, last, hung
        if hung:  # after a hang, stop feeding the stuck model; keep the first example
            return
        calls += 1
        last = caller(case)
        if last.bad:
            hung = last.kind == "hang"
            bad.append((last, case))
            raise _Found

    try:
        prop()
    except _Found:
        pass
    except InvalidArgument:
        raise
    except HypothesisException:  # Flaky: the bad example did not replay (a hang, say)
        pass
    if bad:
        outcome, case = bad[0] if bad[0][0].kind == "hang" else bad[-1]
        return ProbeResult(name, calls, outcome, describe(case.value))
    return ProbeResult(name, calls, last if not last.bad else Outcome("ok"))


def fuzz(caller: Caller, input_shape: tuple[int, ...], bounds: tuple[float, float],
         selected: Sequence[str] = PROBES, examples: int = 25, seed: int = 0,
         timeout_s: float = 5.0) -> FuzzReport:
    """Run the ``selected`` probes against ``caller``."""
    strategies = probes(input_shape, bounds)
    unknown = sorted(set(selected) - set(strategies))
    if unknown:
        raise ValueError(f"unknown fuzzing probes: {', '.join(unknown)}")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # garbage in makes numpy and torch warn; we classify it
        results = tuple(run_probe(p, strategies[p], caller, examples, seed + i)
                        for i, p in enumerate(selected))
    return FuzzReport(results, examples, seed, timeout_s)


def failures_by_rule(report: FuzzReport) -> dict[str, list[ProbeResult]]:
    """Failing probes grouped by the rule they violate."""
    groups: dict[str, list[ProbeResult]] = {}
    for r in report.failures():
        groups.setdefault(RULE_FOR[r.outcome.kind], []).append(r)
    return groups
