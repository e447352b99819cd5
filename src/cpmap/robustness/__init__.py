"""CP4 adversarial robustness: attacks, adversarial training, evaluation and curves.

``attacks`` (white-box, PyTorch) and ``blackbox`` (query-only) make adversarial examples;
``training`` trains standard, PGD-AT, TRADES, distilled and DP-SGD models; ``evaluate`` measures
robust accuracy with gradient-masking ``checks``; ``service`` ties them to the workspace
(datasets by digest, the model store, signed evidence, plots).
"""

from __future__ import annotations
