"""OpenDP is optional: without it, a DP query refuses cleanly instead of hand-rolling noise."""

from __future__ import annotations

import pytest


def test_without_opendp_dp_refuses_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import pandas as pd

    from cpmap.errors import InputError
    from cpmap.privacy import dp

    monkeypatch.setitem(sys.modules, "opendp.mod", None)
    with pytest.raises(InputError, match="needs OpenDP"):
        dp.evaluate(pd.DataFrame({"x": [1, 2]}), dp.parse_query("count"), 1.0)
