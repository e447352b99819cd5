"""``synthesize`` and ``evaluate-synthetic`` end to end: budget, lineage, evidence."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.core.tags import Atlas, OwaspML
from cpmap.errors import InputError
from cpmap.privacy import tabular
from cpmap.privacy.policy import record_cp2
from cpmap.privacy.predicates import SyntheticData, SyntheticEvaluation
from cpmap.privacy.writers import check_output

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


def parse_domains(bounds: list[str] | None, categories: list[str] | None
                  ) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[str, ...]]]:
    """``col=lo,hi`` and ``col=a,b,c`` options into the synthesizer's public domains."""
    from cpmap.privacy.dp import _bounds

    b: dict[str, tuple[float, float]] = {}
    for item in bounds or []:
        col, sep, rng = item.partition("=")
        if not sep or not col:
            raise InputError(f"--bounds {item!r}: expected COLUMN=LO,HI")
        b[col.strip()] = _bounds(rng)
    c: dict[str, tuple[str, ...]] = {}
    for item in categories or []:
        col, sep, vals = item.partition("=")
        cats = tuple(dict.fromkeys(v.strip() for v in vals.split(",") if v.strip()))
        if not sep or not col or not cats:
            raise InputError(f"--categories {item!r}: expected COLUMN=a,b,c")
        c[col.strip()] = cats
    return b, c


@dataclass(frozen=True)
class SynthReport:
    output: Path
    output_ref: str
    rows: int
    columns: tuple[str, ...]
    dropped: tuple[str, ...]
    epsilon: float | None
    seed: int
    entry: int

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "output_dataset": self.output_ref,
                "rows": self.rows, "columns": list(self.columns), "dropped": list(self.dropped),
                "epsilon": self.epsilon, "seed": self.seed, "entry": self.entry}


MAX_ROWS = 5_000_000  # as many as a table CP2 loads whole


def _check_seed(seed: int) -> None:
    if not 0 <= seed < 2**32:
        raise InputError(f"--seed {seed}: must be between 0 and 2**32 - 1")


def run_synthesize(ws: Workspace, path: Path, out: Path, rows: int, *,
                   epsilon: float | None = None, seed: int = 0,
                   columns: list[str] | None = None,
                   bounds: dict[str, tuple[float, float]] | None = None,
                   categories: dict[str, tuple[str, ...]] | None = None,
                   name: str | None = None, integers: frozenset[str] = frozenset(),
                   new_population: str | None = None) -> SynthReport:
    """Fit, sample, charge (DP: to the population of ``path``, before writing), register."""
    from cpmap.core.evidence import Subject, Verdict
    from cpmap.privacy import synth
    from cpmap.privacy.budget import _check_amount, spend
    from cpmap.privacy.population import release_source
    from cpmap.privacy.records import load_text
    from cpmap.privacy.redact import input_dataset
    from cpmap.provenance.lineage import transform

    if tabular.table_format(out) is None:
        raise InputError(f"{out}: output must end in .csv, .tsv, .parquet or .jsonl")
    check_output(out, path)
    if rows > MAX_ROWS:
        raise InputError(f"--rows {rows}: at most {MAX_ROWS:,} synthetic rows")
    _check_seed(seed)
    if epsilon is not None:
        _check_amount(epsilon, "epsilon")
        src = release_source(ws, path, new_population, "dp synthetic copy")
    elif new_population:
        raise InputError("--new-population: only for a DP release (--epsilon)")
    frame = load_text(path) if epsilon is not None else tabular.load(path)
    if columns:
        frame = frame[tabular.columns_of(frame, columns, "--columns", path)]
    for col in [*(bounds or {}), *(categories or {}), *integers]:
        tabular.columns_of(frame, [col], "--bounds/--categories/--integer", path)
    model = synth.fit(frame, epsilon=epsilon, seed=seed, bounds=bounds, categories=categories,
                      integers=integers)
    data = synth.sample(model, rows, seed)
    source = input_dataset(ws, path, None)
    if epsilon is not None:  # charge before anything derived from the data is written
        spend(ws, source.name, epsilon, f"dp synthetic copy ({rows} rows)", digest=src.digest,
              details={"mechanism": "gaussian copula, laplace marginals and correlations",
                       "library": "opendp", "columns": list(model.columns)}
              | ({"new_population": True} if src.new_population else {}))
    with transform("synthesize", inputs=[source], ws=ws, params={
            "rows": rows, "epsilon": epsilon, "seed": seed, "columns": list(model.columns)}) as t:
        tabular.write(data, out)
        dv = t.output(out, name=name or f"{source.name}-synthetic")
    entry = record_cp2(
        ws, SyntheticData, [Subject(dv.ref, dv.digest), Subject(source.ref, source.digest)],
        Verdict.INFO,
        metrics={"rows": rows, "columns": len(model.columns), "dropped": len(model.dropped),
                 "epsilon": epsilon if epsilon is not None else -1, "dp": epsilon is not None},
        details={"columns": list(model.columns), "dropped": list(model.dropped), "seed": seed,
                 "highlights": [f"synthetic copy {dv.ref}: {rows} rows, "
                                f"{'DP epsilon ' + format(epsilon, 'g') if epsilon else 'no DP'}"
                                f"; identifiers not modelled: {', '.join(model.dropped) or '-'}"]})
    return SynthReport(out, dv.ref, rows, model.columns, model.dropped, epsilon, seed,
                       entry.index)


def run_evaluate(ws: Workspace | None, real: Path, synthetic: Path, holdout: Path | None,
                 target: str | None, seed: int = 0) -> tuple[dict[str, Any], int | None]:
    from cpmap.core.evidence import Verdict
    from cpmap.core.findings import Finding, Location, Severity
    from cpmap.privacy.ops import _subject
    from cpmap.privacy.plots import column_distances
    from cpmap.privacy.synth_eval import evaluate

    _check_seed(seed)
    real_frame, synth_frame = tabular.load(real), tabular.load(synthetic)
    if not set(synth_frame.columns) & set(real_frame.columns):
        raise InputError(f"{synthetic}: shares no column with {real}")
    scores = evaluate(real_frame, synth_frame, tabular.load(holdout) if holdout else None,
                      target, seed)
    value = scores.to_dict()
    if ws is None:
        return value, None
    findings = [] if scores.verdict is Verdict.PASS else [Finding(
        "CP2-SYNTH-MEMORIZATION", Severity.HIGH,
        f"synthetic rows too close to real ones: exact copies {scores.exact_copy_rate:.1%}, "
        f"DCR ratio {scores.dcr_ratio:.2f}", Location(str(synthetic)),
        "Synthesize with --epsilon (DP) or drop near-unique columns.",
        (Atlas.T0024, OwaspML.ML03))]
    # a DCR ratio over a zero holdout distance is infinite: JSON (and the ledger) has no inf
    metrics = {k: v for k, v in value.items() if isinstance(v, int | float) and v is not None
               and math.isfinite(v)}
    tstr = (f", TSTR {scores.tstr_accuracy:.3f} vs TRTR {scores.trtr_accuracy:.3f}"
            if scores.tstr_accuracy is not None and scores.trtr_accuracy is not None else "")
    entry = record_cp2(
        ws, SyntheticEvaluation, [_subject(ws, synthetic), _subject(ws, real)],
        scores.verdict, metrics, findings,
        details={"column_distance": value["column_distance"], "target": target,
                 "non_private": [*metrics, "column_distance"],
                 "plots": [column_distances(ws, scores.column_distance,
                                            f"{synthetic.name} vs {real.name}")],
                 "highlights": [
            f"synthetic {synthetic.name} (scores on the real rows, not DP): column distance "
            f"{scores.mean_column_distance:.3f}, "
            f"correlation diff {scores.correlation_difference:.3f}{tstr}, exact copies "
            f"{scores.exact_copy_rate:.1%}, DCR ratio {scores.dcr_ratio:.2f}"]})
    return value, entry.index
