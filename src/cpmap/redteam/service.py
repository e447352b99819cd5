"""CP5 against the workspace: load the target, run the plan, record and track the results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cpmap.redteam.campaign import CampaignResult, record, run
from cpmap.redteam.loader import workspace_setup
from cpmap.redteam.plan import Plan, load_plan

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


def run_campaign(ws: Workspace, model: str, data: str, *, plan: Plan | Path | None = None,
                 endpoint: str | None = None, api_key_env: str = "CPMAP_MODEL_API_KEY",
                 label: str | None = None,
                 on_section: Callable[[str], None] | None = None) -> CampaignResult:
    """Run a campaign on workspace model ``model`` (or its ``endpoint``) and record it."""
    chosen = plan if isinstance(plan, Plan) else load_plan(plan)
    setup = workspace_setup(ws, model, data, chosen.seed, label, endpoint, api_key_env,
                            chosen.membership.reference)
    caller = None
    if endpoint is not None:
        from cpmap.redteam.httpfuzz import http_caller

        caller = http_caller(endpoint, setup.target.n_classes, api_key_env,
                             chosen.fuzzing.timeout_s)
    threads = int(ws.setting("redteam", "threads", 1) or 1)
    result = run(setup.target, setup.data, chosen, setup.trainer, on_section, caller, threads)
    record(ws, result, setup.image_shape,
           {"dataset": setup.dataset, "dataset_digest": setup.dataset_digest,
            "endpoint": endpoint or "", "data_roles": setup.data.note})
    return result
