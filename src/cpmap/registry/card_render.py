"""Model cards as Markdown (Hugging Face README style, YAML front matter), HTML and JSON,
and the fairness section computed from a table and the model's own predictions."""

from __future__ import annotations

import html as html_lib
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError
from cpmap.registry.fairness import fairness

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.manifest import ModelVersion


def _esc(value: Any) -> str:
    """Card fields as text, never markup: Markdown renderers (GitHub, Hugging Face) pass raw
    HTML through, so ``<img src=x onerror=...>`` in an intended-use field would be live in
    every page that shows the card. ``<``, ``>`` and ``&`` become entities (shown as typed)."""
    return html_lib.escape(str(value), quote=False)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(f"- {_esc(v)}" for v in value) if value else "_not stated_"
    return _esc(str(value).strip()) or "_not stated_"


def _yaml_scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON scalars are valid YAML


def markdown(card: Mapping[str, Any]) -> str:
    d = card["model_details"]
    q = card["quantitative_analysis"]
    front = ["---", f"license: {_yaml_scalar(d.get('license') or 'unknown')}",
             "library_name: cpmap", "tags:", "  - cpmap", f"  - sha256:{d['digest'][7:19]}",
             f"model_name: {_yaml_scalar(d['name'])}", f"model_version: {d['version']}", "---"]
    lines = [*front, "", f"# Model card: {_esc(d['name'])}@{d['version']}", "",
             _text(d.get("description")), "",
             f"- digest: `{d['digest']}`", f"- formats: {_esc(', '.join(d['formats']))}",
             f"- created: {_esc(d['created_at'])}",
             f"- code commit: {_esc(d.get('code_commit') or 'n/a')}",
             f"- gate (controls other than this card): "
             f"{'passed' if card['gate']['passed'] else 'FAILED'}", "",
             "## Intended use", "", _text(card.get("intended_use")), "",
             "## Out-of-scope use", "", _text(card.get("out_of_scope_use")), "",
             "## Limitations", "", _text(card.get("limitations")), "",
             "## Training data", ""]
    lines += [f"- {_esc(t['name'])} `sha256:{t['digest']}` (CP1 {t['cp1']}, CP2 {t['cp2']})"
              for t in card["model_parameters"]["training_data"]] or ["_not recorded_"]
    lines += ["", "## Metrics", ""]
    rows = [f"| {_esc(p['type'])} ({_esc(p['slice'])}) | {p['value']:.4g} | #{p['evidence']} |"
            for p in q["performance"]]
    rows += [f"| robust accuracy ({_esc(r['attack'])}, eps {r['eps']}) | {r['robust_accuracy']} | "
             f"#{r['evidence']} |" for r in q["robustness"]]
    mia = q.get("membership_inference")
    if mia:
        rows.append(f"| membership inference TPR at 0.1% FPR | {mia['tpr_at_0.1pct_fpr']} | "
                    f"#{mia['evidence']} |")
    lines += (["| metric | value | evidence |", "|---|---|---|", *rows] if rows
              else ["_no measured metrics yet_"])
    lines += ["", "## Fairness", ""]
    fair = q.get("fairness")
    if fair:
        lines += [f"Sensitive attribute {_esc(fair['sensitive_attribute'])} (groups: "
                  + ", ".join(f"{_esc(k)}={v}" for k, v in fair["groups"].items())
                  + f"), positive class {_esc(fair['positive_class'])}:", "",
                  f"- demographic parity difference: {fair['demographic_parity_difference']}",
                  f"- equalized odds difference: {fair['equalized_odds_difference']}"]
    else:
        lines.append("_not computed: no sensitive attribute given_")
    lines += ["", "## Ethical considerations", "",
              _text(card["considerations"].get("ethical_considerations")), "",
              "## Evidence", "", "Ledger entries: "
              + (", ".join(f"#{i}" for i in card["evidence"]) or "none"), ""]
    return "\n".join(lines)


def html(card: Mapping[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("cpmap.formats", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("card.html.j2").render(card=card, md=markdown(card))


def fairness_for(ws: Workspace, mv: ModelVersion, data: Path, sensitive: str,
                 label: str | None = None, positive: str | None = None) -> dict[str, Any]:
    """Fairness of the version's predictions on a table, grouped by column ``sensitive``."""
    import numpy as np

    from cpmap.models.persist import load_file
    from cpmap.models.tabular import _frame, apply_preprocess
    from cpmap.registry.artifact import materialize

    frame = _frame(data)
    if sensitive not in frame.columns:
        raise InputError(f"{data}: no column {sensitive!r} for the sensitive attribute")
    record = dict(mv.lineage.training or {})
    # skops types the model layer's user reviewed at training time (its own load rule)
    trusted = [str(t) for t in record.get("untrusted_types") or []] if record.get(
        "types_reviewed") else []
    with tempfile.TemporaryDirectory(prefix="cpmap-card-") as tmp:
        model = load_file(materialize(ws, mv.artifact, Path(tmp)), ws, trusted_types=trusted)
    meta = dict(getattr(model, "meta", {}) or {})
    if not meta.get("preprocess"):  # skops files carry no meta: the training record does
        recorded = (mv.lineage.training or {}).get("meta")
        meta = dict(recorded) if isinstance(recorded, dict) else meta
    pre = meta.get("preprocess") or {}
    if pre.get("type") != "tabular":
        raise InputError(f"{mv.ref}: not a table model (no tabular preprocessing recorded); "
                         "fairness needs a model trained on a table")
    label = label or str(pre.get("label", ""))
    if label not in frame.columns:
        raise InputError(f"{data}: no label column {label!r}")
    frame = frame[frame[label].notna()]
    x, _ = apply_preprocess(frame, pre)
    classes = [str(c) for c in meta.get("classes") or []]
    truth = frame[label].astype(str).to_numpy()
    if not classes or not set(np.unique(truth)) <= set(classes):
        raise InputError(f"{data}: label values do not match the model's classes {classes}")
    y_true = np.array([classes.index(t) for t in truth])
    y_pred = np.asarray(model.predict_proba(x)).argmax(axis=1)
    pos = None
    if positive is not None:
        if positive not in classes:
            raise InputError(f"--positive {positive!r}: not one of the classes {classes}")
        pos = classes.index(positive)
    groups = frame[sensitive].astype(str).to_numpy()
    return fairness(y_true, y_pred, groups, sensitive, classes, pos).to_dict()
