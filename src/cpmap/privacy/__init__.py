"""CP2: data privacy and anonymization.

PII detection and redaction, k-anonymity / l-diversity / t-closeness with Mondrian
anonymization, differential privacy with a per-dataset budget, and synthetic data. Submodules
are imported lazily by the CLI; the budget API lives in :mod:`cpmap.privacy.budget`.
"""

from __future__ import annotations
