"""Review items from CP8's flags in the prediction log; table rows shown with PII redacted."""

from __future__ import annotations

from cpmap.review import queue
from cpmap.review.render import png, redacted_row


def test_flagged_rows_of_a_logged_request() -> None:
    """The gateway's log entry: per-row predictions and confidences, the request's OOD flag,
    sampled rows; a row is flagged by CP8's flags or by a confidence under the floor."""
    entry = {"id": "r1", "status": 200, "predictions": [3, 5], "confidence": [0.9, 0.3],
             "features": [[0.1] * 64, [0.2] * 64], "sampled": True}
    rows = queue.flagged_rows(entry, 0.5)
    assert rows == [("predlog:r1:1", [0.2] * 64, "5", 0.3, ["low confidence"])]
    ood = queue.flagged_rows({**entry, "ood": True}, 0.5)
    assert [(k, f) for k, _, _, _, f in ood] == [("predlog:r1:0", ["ood"]),
                                                 ("predlog:r1:1", ["ood", "low confidence"])]
    table = {"id": "t", "status": 200, "predictions": [1], "confidence": [0.4],
             "inputs": {"age": [41], "email": ["<EMAIL_ADDRESS>"]}}
    assert queue.flagged_rows(table, 0.5)[0][1] == {"age": 41, "email": "<EMAIL_ADDRESS>"}
    unsampled = queue.flagged_rows({"id": "u", "status": 200, "predictions": [2],
                                    "confidence": [0.1]}, 0.5)
    assert unsampled == [("predlog:u", None, "2", 0.1, ["low confidence"])]
    assert queue.flagged_rows({**entry, "status": 429}, 0.5) == []  # refused: no answer


def test_rows_are_redacted_and_digits_are_pngs() -> None:
    cells = dict(redacted_row({"name": "Ann", "email": "ann.lee@example.com", "age": 41}))
    assert "example.com" not in cells["email"] and "EMAIL" in cells["email"]
    assert cells["age"] == "41"
    data = png([0.0, 1.0] * 32, "8x8")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
