"""Black-box evaluation of a model behind an HTTP endpoint (how CP5/CP7 attack a service)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from cpmap.errors import InputError


@pytest.fixture
def endpoint(digits: Any) -> Iterator[tuple[str, list[str]]]:
    from sklearn.linear_model import LogisticRegression

    x, y = digits
    clf = LogisticRegression(max_iter=300).fit(x, y)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            seen.append(self.headers.get("Authorization", ""))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            probs = clf.predict_proba(np.asarray(body["inputs"], dtype=np.float32))
            out = json.dumps({"probabilities": probs.tolist()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/predict", seen
    server.shutdown()
    server.server_close()


def test_a_remote_endpoint_is_attacked_black_box(ws: Any, endpoint: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.robustness.evaluate import AttackSettings
    from cpmap.robustness.service import evaluate_model

    url, seen = endpoint
    monkeypatch.setenv("CPMAP_MODEL_API_KEY", "k-123")
    res = evaluate_model(ws, url, "builtin:digits", [0.1, 0.2], samples=40,
                         settings=AttackSettings(square_iters=30, hsj_iterations=3))
    ev = res.evaluation
    assert [r.attack for r in ev.results] == ["square", "square", "hsj", "hsj"]
    assert all(r.queries and r.queries > 0 for r in ev.results)
    assert ev.robust_at(0.2) is not None and ev.robust_at(0.2) <= ev.clean_accuracy
    assert set(seen) == {"Bearer k-123"}
    entry = Ledger(ws).entries(kind="robustness-evaluation")[-1]
    assert entry.summary()["subjects"][0]["name"] == url
    with pytest.raises(InputError, match="white-box"):
        evaluate_model(ws, url, "builtin:digits", [0.1], ["pgd"], samples=5, save=False)
