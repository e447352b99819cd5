"""Default query budgets and output policies, sized from the version's CP5 extraction evidence.

CP5's extraction attack reports, per output form (probabilities, rounded, label), the surrogate's
fidelity at each query budget, and the policy's fidelity that counts as a stolen model. The
budget for a form is the number of queries at which the attack first reached that fidelity,
times a safety factor; a form the attack never stole within its largest budget gets that budget
(measured safe, nothing more is known). The default output is the form the attack did worst
against. Without extraction evidence the configured default applies, and the reason says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cpmap.gateway.harden import OutputPolicy
from cpmap.redteam.predicates import RedteamCampaign

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.gate.kit import Item


@dataclass(frozen=True)
class BudgetPlan:
    default_output: OutputPolicy
    default_queries: int
    window: str
    reason: str
    per_output: Mapping[str, int] = field(default_factory=dict)  # CP5 form -> queries
    source_entry: int | None = None

    def queries_for(self, output: OutputPolicy) -> int:
        """The budget for a client with ``output`` (unmeasured forms count as full output)."""
        form = _form(output)
        return int(self.per_output.get(form, self.per_output.get("probabilities",
                                                                  self.default_queries)))

    def limit_for(self, output: OutputPolicy) -> str:
        return f"{self.queries_for(output)}/{self.window}"


def _form(output: OutputPolicy) -> str:
    if output.kind == "label" or (output.kind == "top-k" and output.param == 1):
        return "label"
    return "rounded" if output.kind == "rounded" else "probabilities"


def _policy(form: str, decimals: int) -> OutputPolicy:
    if form == "rounded":
        return OutputPolicy("rounded", decimals)
    return OutputPolicy("label") if form == "label" else OutputPolicy("full")


def _extraction(items: Sequence[Item]) -> tuple[Item, RedteamCampaign] | None:
    """The latest verified CP5 campaign that ran the extraction attack."""
    found = [(i, i.predicate) for i in items if i.verified
             and isinstance(i.predicate, RedteamCampaign)
             and isinstance(i.predicate.results.get("extraction"), Mapping)]
    return found[-1] if found else None


def from_points(points: Sequence[Mapping[str, Any]], threshold: float, safety: float,
                ) -> tuple[dict[str, int], dict[str, float], list[str]]:
    """Per form: (budget, fidelity at the largest budget, reason lines)."""
    budgets: dict[str, int] = {}
    worst: dict[str, float] = {}
    lines = []
    for form in dict.fromkeys(str(p["output"]) for p in points):
        pts = sorted((p for p in points if p["output"] == form), key=lambda p: int(p["budget"]))
        worst[form] = float(pts[-1]["fidelity"])
        hit = next((p for p in pts if float(p["fidelity"]) >= threshold), None)
        if hit is not None:
            budgets[form] = max(1, math.floor(int(hit["budget"]) * safety))
            lines.append(f"{form}: stolen (fidelity {float(hit['fidelity']):.1%} >= "
                         f"{threshold:.0%}) at {hit['budget']} queries x {safety:g}")
        else:
            budgets[form] = int(pts[-1]["budget"])
            lines.append(f"{form}: not stolen within {pts[-1]['budget']} queries "
                         f"(fidelity {worst[form]:.1%})")
    return budgets, worst, lines


def plan(ws: Workspace, digest: str, default_budget: str, safety: float,
         window: str) -> BudgetPlan:
    from cpmap.gate.evidence import collect

    latest = _extraction(collect(ws, [digest]).items)
    amount = int(default_budget.split("/")[0])
    if latest is None:
        return BudgetPlan(OutputPolicy("label"), amount, window,
                          f"no CP5 extraction evidence for this version: configured default "
                          f"{default_budget}, label-only output")
    found, campaign = latest
    results = campaign.results["extraction"]
    ext_plan = campaign.plan.get("extraction") or {}
    threshold = float(ext_plan.get("fidelity_threshold", 0.9))
    points = [p for p in results.get("points") or [] if isinstance(p, Mapping)]
    if not points:
        return BudgetPlan(OutputPolicy("label"), amount, window,
                          f"CP5 evidence #{found.index} holds no extraction points: default "
                          f"{default_budget}", source_entry=found.index)
    budgets, worst, lines = from_points(points, threshold, safety)
    best = min(worst, key=lambda f: (worst[f], f))
    output = _policy(best, int(results.get("rounding_decimals", 1)))
    reason = (f"CP5 evidence #{found.index}: " + "; ".join(lines)
              + f"; default output {output} (lowest fidelity)")
    return BudgetPlan(output, budgets[best], window, reason, budgets, found.index)
