"""What a campaign attacks: a classifier reachable through ``predict_proba`` (and maybe more).

The attacks only ever see a :class:`Target`. Black-box attacks go through
:meth:`Target.query`, which counts every row sent, so query counts in results are measured,
not estimated. White-box attacks additionally need ``module`` (a torch module giving logits);
a remote endpoint or a scikit-learn model has none, and those attacks are then skipped with a
reason rather than silently run on something else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

PredictFn = Callable[[np.ndarray], np.ndarray]


class QueryBudgetExceeded(RuntimeError):
    """An attack asked for more rows than its query budget allows."""


@dataclass
class QueryCounter:
    """Counts rows sent to a predict function and enforces an optional budget."""

    fn: PredictFn
    budget: int | None = None
    count: int = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = int(x.shape[0]) if x.ndim else 1
        if self.budget is not None and self.count + n > self.budget:
            raise QueryBudgetExceeded(f"query budget {self.budget} exhausted")
        self.count += n
        return np.asarray(self.fn(x), dtype=np.float64)


@dataclass
class Target:
    """A classifier under test.

    ``predict_proba`` is the raw call (fuzzing sends it garbage on purpose); ``input_shape`` is
    the shape of one sample (``(64,)`` for flattened digits), ``bounds`` the valid input range,
    ``image_shape`` the (height, width) to draw samples as images, when they are images.
    """

    name: str
    digest: str
    predict_proba: Callable[[Any], Any]
    n_classes: int
    input_shape: tuple[int, ...]
    bounds: tuple[float, float] = (0.0, 1.0)
    module: torch.nn.Module | None = None
    image_shape: tuple[int, int] | None = None
    remote: bool = False
    queries: int = field(default=0, init=False)

    @property
    def white_box(self) -> bool:
        return self.module is not None

    @property
    def n_features(self) -> int:
        return int(np.prod(self.input_shape))

    def query(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for a well-formed batch, counted against :attr:`queries`."""
        batch = np.asarray(x, dtype=np.float32).reshape((-1, *self.input_shape))
        self.queries += int(batch.shape[0])
        return np.asarray(self.predict_proba(batch), dtype=np.float64)

    def counter(self, budget: int | None = None) -> QueryCounter:
        """A fresh per-attack counter (and budget) that also adds to :attr:`queries`."""
        return QueryCounter(self.query, budget)

    def labels(self, x: np.ndarray, batch: int = 512) -> np.ndarray:
        """Predicted classes, batched."""
        out = [self.query(x[i:i + batch]).argmax(axis=1) for i in range(0, len(x), batch)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def logits_module(self) -> torch.nn.Module:
        if self.module is None:
            raise ValueError(f"{self.name}: no white-box access (no torch module)")
        return self.module
