"""CP9 in the gateway: input sampling and the stream detectors, wired to the prediction log.

Both run in the log writer's thread, never on the request path: the request path only leaves
a reference to the validated rows in the log entry (``Gateway.keep_inputs``). Settings:
``[monitoring] sample_inputs`` (a share of requests whose redacted rows are kept, default 0)
and ``[drift] stream`` (the ADWIN / Page-Hinkley detectors, on by default), ``stream_delta``,
``stream_cooldown_s``. The gateway keeps both as ``app.cp9`` (sampler, detectors; either may
be None) for its status and tests.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.drift.sampling import InputSampler
    from cpmap.drift.stream import LiveDrift

log = logging.getLogger("cpmap.drift")


def attach(ws: Workspace, app: Any) -> tuple[InputSampler | None, LiveDrift | None]:
    """Hook sampling and the live detectors into a built gateway's prediction log."""
    from cpmap.drift.policy import load_policy
    from cpmap.drift.sampling import sampler_for
    from cpmap.monitor.config import load

    srv, plog = app.served, app.predlog
    if plog is None or app.chat is not None or srv.model is None:
        return None, None
    sampler = sampler_for(ws, srv, load(ws).sample_inputs)
    policy = load_policy(ws)
    stream = _stream(ws, srv, policy) if policy.stream else None
    if stream is not None:
        plog.prepare.append(stream.prepare)  # summaries first: the sampler takes the rows
        plog.consumers.append(stream.consume)
    if sampler is not None:
        plog.prepare.append(sampler.prepare)
        log.warning("%s: keeping the PII-redacted inputs of %.1f%% of requests in the "
                    "prediction log ([monitoring] sample_inputs)", srv.ref,
                    100 * sampler.share)
    app.keep_inputs = sampler is not None or stream is not None
    app.cp9 = (sampler, stream)
    return sampler, stream


def _stream(ws: Workspace, srv: Any, policy: Any) -> LiveDrift | None:
    from cpmap.drift.stream import LiveDrift

    table = getattr(srv.spec, "table", None)
    names = (_table_names(table) if table is not None
             else [f"x{i}" for i in range(int(srv.spec.dim))])
    try:
        return LiveDrift(ws, srv.ref, srv.digest, names, len(srv.classes),
                         cooldown_s=policy.stream_cooldown_s, delta=policy.stream_delta)
    except ImportError:  # river is a dependency; a broken install says so once
        log.warning("%s: river is not importable; no stream drift detectors", srv.ref)
        return None


def _table_names(table: Any) -> list[str]:
    """The model columns of a table spec: numbers by name, one-hot categories as name=value."""
    out: list[str] = []
    for c in table.columns:
        out += [c.name] if c.kind == "numeric" else [f"{c.name}={v}" for v in c.categories]
    return out
