"""What CP7 declares about itself, as plain data for the control registry (the lead converts
this into the typed declaration once the registry lands)."""

from __future__ import annotations

from typing import Any

CONTROL_SPEC: dict[str, Any] = {
    "id": "CP7",
    "phase": 4,
    "phase_name": "Serve",
    "title": "Secure API endpoint & input validation",
    "summary": "Inference gateway serving only gated versions: API keys, rate limits and query "
               "budgets sized from CP5 extraction evidence, strict input and file validation, "
               "hardened outputs, a tamper-evident prediction log.",
    "implemented": True,
    "commands": ("cpmap serve", "cpmap gateway key", "cpmap gateway check",
                 "cpmap gateway log verify"),
    # [gate.CP7]: not required for staging/canary serving; a production promotion needs a
    # passing `gateway check` of the version (see cpmap.gateway.requirement.cp7).
    "gate_defaults": {"required": False, "required_for_stages": ["production"],
                      "max_failed_checks": 0},
    "gate_requirement": "cpmap.gateway.requirement:cp7",
    "evidence_kinds": ("gateway-key", "gateway-serve", "gateway-budget",
                       "gateway-predictions", "gateway-check"),
    # raised by the gateway, belonging to CP8
    "alert_kinds": {"CP8": ("gateway-alert",)},
    "evidence_module": "cpmap.gateway.evidence",
    "table_module": "cpmap.gateway.tables",
    "cli": {"groups": [("gateway", "cpmap.cli.gateway",
                        "CP7: API keys, gateway attacks, prediction log.")],
            "commands": [("serve", "cpmap.cli.serve", "serve")]},
    "config_section": "gateway",  # [gateway] in cpmap.toml, CPMAP_GATEWAY_<KEY>, see config.py
    "env": ("CPMAP_REDIS_URL",),
    "demo": "cpmap.gateway.demo:run",
}
