"""Output policies: what a client sees of the model's probabilities.

``full`` gives every probability, ``top-k:N`` the N most likely labels with theirs,
``rounded:D`` probabilities rounded to D decimals, ``label`` the predicted label only. Less
output is fewer bits per query for an extraction attacker (CP5 measures how much fewer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from cpmap.gateway.errors import GatewayError

_RE = re.compile(r"(full|label|top-k:(\d{1,3})|rounded:(\d))")
# CP5's extraction evidence names its output forms differently.
FROM_CP5 = {"probabilities": "full", "label": "label"}


@dataclass(frozen=True)
class OutputPolicy:
    kind: str  # full | top-k | rounded | label
    param: int = 0

    @classmethod
    def parse(cls, text: str) -> OutputPolicy:
        m = _RE.fullmatch(text.strip())
        if m is None:
            raise GatewayError(f"output policy {text!r}: use full, top-k:N, rounded:D or label")
        if m.group(2) is not None:
            if int(m.group(2)) < 1:
                raise GatewayError(f"output policy {text!r}: top-k needs N >= 1")
            return cls("top-k", int(m.group(2)))
        if m.group(3) is not None:
            return cls("rounded", int(m.group(3)))
        return cls(m.group(1))

    def __str__(self) -> str:
        return f"{self.kind}:{self.param}" if self.kind in ("top-k", "rounded") else self.kind

    def apply(self, probs: np.ndarray) -> list[dict[str, Any]]:
        """OIP v2 output tensors for a batch of probabilities ``[n, k]``."""
        n, k = probs.shape
        if self.kind == "label":
            labels = probs.argmax(axis=1)
            return [_tensor("label", "INT64", [n], labels.tolist())]
        if self.kind == "top-k":
            top = min(self.param, k)
            idx = np.argsort(-probs, axis=1, kind="stable")[:, :top]
            vals = np.take_along_axis(probs, idx, axis=1)
            return [_tensor("top_k_labels", "INT64", [n, top], idx.ravel().tolist()),
                    _tensor("top_k_probabilities", "FP32", [n, top],
                            np.round(vals, 6).ravel().tolist())]
        digits = self.param if self.kind == "rounded" else 6
        return [_tensor("probabilities", "FP32", [n, k],
                        np.round(probs, digits).ravel().tolist())]

    def output_names(self) -> list[tuple[str, str]]:
        if self.kind == "label":
            return [("label", "INT64")]
        if self.kind == "top-k":
            return [("top_k_labels", "INT64"), ("top_k_probabilities", "FP32")]
        return [("probabilities", "FP32")]


def _tensor(name: str, datatype: str, shape: list[int], data: list[Any]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}
