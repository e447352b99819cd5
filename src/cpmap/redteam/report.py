"""How a campaign reads: its verdict, the evidence details and the human summary lines.

The verdict counts only findings still open: an accepted finding is a recorded decision, not
a failure. Open high or critical findings fail the campaign, anything else open warns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import Verdict
from cpmap.core.findings import Finding, Severity
from cpmap.errors import InputError
from cpmap.redteam.plan import SEED_OFFSET

if TYPE_CHECKING:
    from cpmap.redteam.campaign import CampaignResult


def verdict(findings: Sequence[Finding], status: Mapping[str, str]) -> Verdict:
    live = [f for f in findings if status.get(str(f.properties.get("id")), "open") == "open"]
    if any(f.severity.rank >= Severity.HIGH.rank for f in live):
        return Verdict.FAIL
    return Verdict.WARN if live else Verdict.PASS


def parse_fail_on(text: str) -> Severity:
    """The ``--fail-on`` threshold: a severity name, or one clear error."""
    try:
        return Severity(text)
    except ValueError:
        raise InputError(f"--fail-on {text!r}: use one of "
                         f"{', '.join(s.value for s in Severity)}") from None


def fails(findings: Sequence[Finding], threshold: Severity) -> bool:
    """Whether an open finding is at least as severe as ``threshold`` (exit 1 on the CLI)."""
    return any(f.severity.rank >= threshold.rank and f.properties.get("status", "open") == "open"
               for f in findings)


def _pct(v: Any) -> str:
    return f"{v:.1%}" if isinstance(v, int | float) else "n/a"


def section_line(result: CampaignResult, name: str) -> str:
    """One human line for a section's metrics."""
    m = result.metrics.get(name, {})
    if name == "fuzzing":
        return (f"fuzzing: {m['failing_probes']}/{m['probes']} probes failing in "
                f"{m['calls']} calls")
    if name == "evasion":
        return (f"evasion at eps {result.plan.evasion.eps}: white-box "
                f"{_pct(m.get('white_box_success_rate'))}, black-box "
                f"{_pct(m.get('black_box_success_rate'))} success")
    if name == "extraction":
        top = max(result.plan.extraction.budgets)
        ci = m.get("fidelity_probabilities_ci95")
        free = m.get("fidelity_data_free")
        return (f"extraction at {top} queries: fidelity "
                f"{_pct(m.get('fidelity_probabilities'))}"
                + (f" (95% CI {ci[0]:.1%}-{ci[1]:.1%})" if ci else "") + " (probabilities), "
                f"{_pct(m.get('fidelity_rounded'))} (rounded), "
                f"{_pct(m.get('fidelity_label'))} (label only)"
                + (f"; data-free (random queries) {_pct(free)}" if free is not None else "")
                + f"; attacker: {m.get('attacker', 'holds in-distribution rows')}")
    if name == "membership":
        if m.get("skipped"):
            return f"membership: skipped ({m['skipped']})"
        from cpmap.redteam.membership import summary_text

        best = next((a for a in m.get("attacks", []) if a.get("attack") == m.get("attack")), m)
        return f"membership ({m.get('attack')}): {summary_text(best)}"
    return (f"inversion: {_pct(m.get('identification_rate'))} of classes recognisable, "
            f"mean similarity {m.get('mean_similarity')}")


def highlights(result: CampaignResult) -> list[str]:
    head = f"{result.model}: {len(result.findings)} finding(s)"
    if result.worst is not None:
        head += f", worst {result.worst.value}"
    return [head, *(section_line(result, name) for name in result.metrics)]


def details(result: CampaignResult, status: Mapping[str, str],
            plots: list[dict[str, str]]) -> dict[str, Any]:
    return {"campaign": result.campaign_id, "model": result.model,
            "plan": result.plan.to_dict(), "seed": result.plan.seed,
            "seeds": {s: result.plan.seed + off for s, off in SEED_OFFSET.items()},
            "results": result.metrics, "seconds": result.seconds,
            "status": dict(status),
            "transitions": [t.__dict__ for t in result.transitions],
            "plots": plots, "highlights": highlights(result)}


def summary_rows(result: CampaignResult) -> list[dict[str, Any]]:
    """One row per section for the terminal table."""
    return [{"section": name, "seconds": result.seconds.get(name),
             "result": section_line(result, name).split(": ", 1)[-1]}
            for name in result.metrics]
