"""Review items from CP8's flags in the prediction log; table rows shown with PII redacted."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert

from cpmap.review import queue
from cpmap.review.render import png, redacted_row


def test_flagged_predlog_entries_become_items_once(any_ws: Any) -> None:
    from cpmap.gateway.tables import gateway_predictions

    entries = [
        {"id": "a", "status": 200, "flags": ["ood"], "confidence": 0.3, "prediction": "4",
         "sample": [0.5] * 64},
        {"id": "b", "status": 200, "low_confidence": True},  # no sample, no flags list
        {"id": "c", "status": 200},  # an old log without CP8's columns: not flagged
    ]
    with any_ws.store.write() as conn:
        conn.execute(insert(gateway_predictions), [
            {"batch": 7, "seq": i, "entry": json.dumps(e)} for i, e in enumerate(entries)])
    assert queue.from_predlog(any_ws, "digits", shape="8x8") == 2
    assert queue.from_predlog(any_ws, "digits", shape="8x8") == 0  # each entry once
    first = queue.claim(any_ws, "alice")
    assert first is not None and first.flags == ("ood",) and first.input_kind == "image"
    second = queue.claim(any_ws, "bob")
    assert second is not None and second.flags == ("low confidence",)
    assert second.input_kind == "none"


def test_rows_are_redacted_and_digits_are_pngs() -> None:
    cells = dict(redacted_row({"name": "Ann", "email": "ann.lee@example.com", "age": 41}))
    assert "example.com" not in cells["email"] and "EMAIL" in cells["email"]
    assert cells["age"] == "41"
    data = png([0.0, 1.0] * 32, "8x8")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
