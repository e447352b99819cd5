"""``cpmap review export NAME -o DIR``: final decisions as a curated, signed CP1 dataset.

Items decided with a true label, and items marked as attacks (with the true label the reviewer
gave: they become adversarial training examples), are written as rows of ``curated.csv``
(features ``p0..``, ``label``); ``attacks.json`` lists which rows were attacks. The folder is
signed with the workspace key (a CP1 attestation next to it) and registered as a dataset whose
lineage names every item's digest, and a ``review-export`` entry is recorded. Noise and
skipped items are left out. The export is then a batch for ``cpmap retrain --batch``, checked
by the intake like any other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.errors import InputError
from cpmap.retrain.predicates import ReviewExport
from cpmap.review.queue import final_items

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.provenance.datasets import DatasetVersion


@dataclass(frozen=True)
class Exported:
    dataset: DatasetVersion
    csv: Path
    attestation: Path
    rows: int
    attacks: int
    entry: int

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset.ref, "digest": self.dataset.digest,
                "csv": str(self.csv), "attestation": str(self.attestation),
                "rows": self.rows, "attacks": self.attacks, "entry": self.entry}


def export(ws: Workspace, model: str, out: Path) -> Exported:
    import pandas as pd

    from cpmap.provenance import manifest
    from cpmap.provenance.datasets import register_dataset

    items = [i for i in final_items(ws, model) if i.decision in ("label", "attack")
             and isinstance(i.input, list) and i.label is not None]
    if not items:
        raise InputError(f"{model}: no final review decision with a true label to export")
    out.mkdir(parents=True, exist_ok=True)
    width = len(items[0].input)
    frame = pd.DataFrame([i.input for i in items if len(i.input) == width],
                         columns=[f"p{k}" for k in range(width)])
    frame["label"] = [i.label for i in items if len(i.input) == width]
    csv = out / "curated.csv"
    frame.to_csv(csv, index=False)
    attacks = [n for n, i in enumerate(items) if i.decision == "attack"]
    (out / "attacks.json").write_text(json.dumps({"rows": attacks,
                                                  "items": [i.id for i in items]}) + "\n")
    att = out.parent / f"{out.name}.attestation.json"
    att.write_text(manifest.dump(manifest.sign(csv, ws.signing_key)))
    dv = register_dataset(ws, f"{model}-review", csv, source="transform:review-export",
                          parents=[i.digest for i in items], transform="review-export")
    pred = ReviewExport(verdict=Verdict.PASS, rows=len(frame), attacks=len(attacks),
                        model=model, dataset=dv.ref, items=tuple(i.id for i in items),
                        highlights=(f"{dv.ref}: {len(frame)} reviewed rows, {len(attacks)} "
                                    "attack(s) as adversarial examples",))
    subjects = [Subject(dv.ref, dv.digest),
                *[Subject(f"review-item:{i.id}", i.digest) for i in items]]
    entry = record(Evidence.of(pred, subjects), ws)
    return Exported(dv, csv, att, len(frame), len(attacks), entry.index)
