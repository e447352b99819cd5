"""The CP10 stage's scripted reviewer: flagged predictions decided through the real web app.

The production model's least confident answers on held-out digits are queued (the same items
CP8's low-confidence flag makes); the review app is served on a free 127.0.0.1 port and a
reviewer account logs in, claims and decides each item over HTTP with its session cookie and
CSRF token, exactly as the browser's forms do. The last item is marked as an attack with its
true label. The curated export is then a batch for the retraining run.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.manifest import ModelVersion
    from cpmap.review.export import Exported

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def queue_flagged(ws: Workspace, mv: ModelVersion, n: int = 4) -> list[int]:
    from cpmap.builtin import digits
    from cpmap.gateway.served import load
    from cpmap.review.queue import add

    x, y = digits()
    held = x[-200:]
    probs = load(ws, mv.ref, allow_ungated=True).predict(held)  # offline: nothing served
    conf = probs.max(axis=1)
    ids = []
    for i in np.argsort(conf)[:n]:
        got = add(ws, mv.name, f"demo:{mv.ref}:{int(i)}", value=[float(v) for v in held[i]],
                  prediction=str(int(probs[i].argmax())), confidence=float(conf[i]),
                  flags=["low confidence"], source="predlog", shape="8x8")
        if got is not None:
            ids.append(got)
    return ids


def true_labels(ws: Workspace, mv: ModelVersion) -> dict[str, str]:
    from cpmap.builtin import digits

    x, y = digits()
    return {f"demo:{mv.ref}:{i}": str(int(y[-200:][i])) for i in range(200)}


def review(ws: Workspace, mv: ModelVersion, out: Path) -> tuple[int, Exported]:
    """Decide every queued item over HTTP; export. (decided, the export)"""
    import httpx
    from sqlalchemy import select

    from cpmap.gateway.server import run_in_thread
    from cpmap.review.accounts import add_user
    from cpmap.review.export import export
    from cpmap.review.tables import review_items
    from cpmap.review.web import build

    password = secrets.token_urlsafe(16)
    add_user(ws, "demo-reviewer", "reviewer", password)
    with ws.store.read() as conn:
        keys = {int(r.id): str(r.key) for r in conn.execute(select(review_items))}
    labels = true_labels(ws, mv)
    running = run_in_thread(build(ws))
    decided = 0
    try:
        with httpx.Client(base_url=running.url, timeout=10) as c:
            page = c.get("/login")
            login_cookie = page.cookies.get("cpmap_review_login") or ""
            r = c.post("/login", data={"csrf": _CSRF.search(page.text)[1],  # type: ignore[index]
                                       "user": "demo-reviewer", "password": password},
                       headers={"Cookie": f"cpmap_review_login={login_cookie}"})
            session = r.cookies.get("cpmap_review") or ""
            cookie = {"Cookie": f"cpmap_review={session}"}
            while True:
                home = c.get("/", headers=cookie)
                token = _CSRF.search(home.text)[1]  # type: ignore[index]
                r = c.post("/claim", data={"csrf": token}, headers=cookie)
                where = r.headers.get("location", "")
                if not where.startswith("/items/"):
                    break
                item = int(where.rsplit("/", 1)[1])
                attack = decided == len(keys) - 1
                c.post(f"{where}/decide", headers=cookie, data={
                    "csrf": token, "decision": "attack" if attack else "label",
                    "label": labels.get(keys[item], "0")})
                decided += 1
    finally:
        running.stop()
    return decided, export(ws, mv.name, out)
