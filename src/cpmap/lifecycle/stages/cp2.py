"""CP2 stage: scan, redact, k-anonymize, one DP statistic, a DP synthetic copy.

Both DP releases are charged to one budget: the customers population at the root of the CP1
lineage (the synthesizer fits a recorded split of it).

Runs on the customer table CP1 wrote (or writes it when CP1 did not run), all seeded, in a few
seconds on two cores. Every step records CP2 evidence and registers its output through CP1
lineage, so the report's CP2 cell and ``cpmap data lineage`` show the whole chain.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cpmap.lifecycle.artifacts import Artifacts
from cpmap.lifecycle.context import Context, StageResult
from cpmap.lifecycle.data import customers_table
from cpmap.privacy import scan as sc
from cpmap.privacy.detect import RegexAnalyzer
from cpmap.privacy.redact import Plan, redact
from cpmap.privacy.transform import Strategy

QUASI = ["zip", "city", "age", "gender"]
MODEL_COLUMNS = ["age", "gender", "income", "loan_amount", "credit_score", "default"]
BOUNDS = {"age": (18.0, 90.0), "income": (0.0, 300_000.0), "loan_amount": (0.0, 100_000.0),
          "credit_score": (300.0, 850.0)}
CATEGORIES = {"gender": ("F", "M", "X"), "default": ("0", "1")}
INTEGERS = frozenset({"age", "credit_score"})  # the public schema of the customer table


def _split(ctx: Context, source: Path) -> tuple[Path, Path]:
    """A recorded 75/25 split: the synthesizer fits on one part, is judged on the other."""
    import pandas as pd

    from cpmap.privacy.redact import input_dataset
    from cpmap.provenance.lineage import transform

    src = input_dataset(ctx.ws, source, None)
    frame = pd.read_csv(source)[MODEL_COLUMNS]
    train, hold = ctx.workdir / "data" / "customers-train.csv", \
        ctx.workdir / "data" / "customers-holdout.csv"
    with transform("split", inputs=[src], ws=ctx.ws, params={"train": 0.75, "seed": 7}) as t:
        shuffled = frame.sample(frac=1.0, random_state=7)
        cut = int(len(shuffled) * 0.75)
        shuffled.iloc[:cut].to_csv(train, index=False)
        shuffled.iloc[cut:].to_csv(hold, index=False)
        t.output(train, name="customers-train")
        t.output(hold, name="customers-holdout")
    return train, hold


def _dp_line(ctx: Context, customers: Path, have_dp: bool) -> str:
    from cpmap.privacy import dp
    from cpmap.privacy.records import load_text
    from cpmap.privacy.redact import input_dataset

    if not have_dp:  # never hand-rolled noise: without OpenDP there is no DP release
        return "DP release skipped: OpenDP is not installed (pip install 'cpmap[dp]')"
    src = input_dataset(ctx.ws, customers, None)
    stat = dp.release(ctx.ws, load_text(customers), src.ref, dp.Query(
        "mean", "age", BOUNDS["age"]), 1.0, src.digest)
    return (f"DP mean(age) = {stat.value:.2f} (epsilon 1, OpenDP Laplace; "
            f"{stat.remaining:g} of the {stat.dataset} budget left)")


def run(ctx: Context) -> StageResult:
    from cpmap.privacy.ops import run_anonymize
    from cpmap.privacy.synth_ops import run_evaluate, run_synthesize

    ws, wd = ctx.ws, ctx.workdir
    customers, made = customers_table(ctx)
    analyzer = RegexAnalyzer()
    scanned = sc.scan_path(customers, analyzer)
    sc.record_scan(ws, [scanned], "cpmap", "direct")
    pii = [f"{c.column}={c.entity}" for c in scanned.columns if c.pii]
    ctx.log(f"scan: {len(pii)} PII columns")

    red_path = wd / "data" / "customers-redacted.csv"
    red = redact(ws, customers, red_path, Plan(Strategy.hash, direct_only=True), analyzer)
    anon_path = wd / "data" / "customers-anonymized.csv"
    anon = run_anonymize(ws, red_path, anon_path, QUASI, 5, 2, None, "default", suppress=0.02)
    release = sc.scan_path(anon_path, analyzer)  # the table we would hand to training
    sc.record_scan(ws, [release], "cpmap", "direct")

    have_dp = importlib.util.find_spec("opendp") is not None
    dp_line = _dp_line(ctx, customers, have_dp)
    train, hold = _split(ctx, customers)
    syn_path = wd / "data" / "customers-synthetic.csv"
    eps = 2.0 if have_dp else None
    # train is a recorded split of customers: its DP fit is charged to the customers budget
    syn = run_synthesize(ws, train, syn_path, 1500, epsilon=eps, seed=7,
                         bounds=BOUNDS if have_dp else None,
                         categories=CATEGORIES if have_dp else None,
                         integers=INTEGERS if have_dp else frozenset())
    scores, _entry = run_evaluate(ws, train, syn_path, hold, "default", seed=7)
    made = made.merge(Artifacts(
        customers_redacted_csv=red_path, customers_redacted=red.output_ref,
        customers_anonymized_csv=anon_path, customers_anonymized=anon.output_ref,
        customers_synthetic_csv=syn_path, customers_synthetic=syn.output_ref))

    a = anon.check.assessment
    ok = (scanned.pii and not release.pii and red.verdict == "pass" and red.residual_values == 0
          and anon.check.verdict == "pass" and a.k >= 5 and scores["verdict"] == "pass")
    lines = (
        f"scan found {len(pii)} PII columns: {', '.join(pii)}",
        f"redacted direct identifiers (HMAC pseudonyms) -> {red.output_ref}; re-scan: no direct "
        f"identifiers, {red.residual_values} original values left",
        f"Mondrian on {', '.join(QUASI)} -> {anon.output_ref}: k={a.k}, l={a.l_distinct}, "
        f"NCP {anon.info['information_loss_ncp']:.3f}, {anon.info['suppressed']} suppressed; "
        f"re-scan of the release: {'PII left' if release.pii else 'clean'}",
        dp_line,
        f"{'DP' if have_dp else 'non-DP'} synthetic copy {syn.output_ref}"
        f"{' (epsilon 2, charged to the same population)' if have_dp else ''}: scores on the "
        f"real rows (not DP): column distance "
        f"{scores['mean_column_distance']:.3f}, TSTR {scores['tstr_accuracy']:.3f} vs TRTR "
        f"{scores['trtr_accuracy']:.3f}, exact copies {scores['exact_copy_rate']:.1%}, DCR ratio "
        f"{scores['dcr_ratio']:.2f}",
    )
    return StageResult("CP2", bool(ok), lines, made=made)
