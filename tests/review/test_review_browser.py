"""The review page in the system Chromium: log in, decide, two reviewers at once, CSRF."""

from __future__ import annotations

from typing import Any

import httpx
from tests.review.conftest import PASSWORD

from cpmap.core.ledger import Ledger
from cpmap.review import queue


def _reviewer(browser: Any, url: str, user: str) -> tuple[Any, list[str]]:
    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    assert page.url.endswith("/login")
    page.fill("#user", user)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#claim")
    return page, errors


def test_log_in_and_decide(browser: Any, served: Any) -> None:
    url, ws, ids = served
    page, errors = _reviewer(browser, url, "alice")
    page.click("#claim")
    page.wait_for_selector("#input")
    width = page.eval_on_selector("#input", "img => img.decode().then(() => img.naturalWidth)")
    assert width == 128  # a real PNG, decoded by the browser
    assert page.inner_text("#flags") == "low confidence"
    page.fill("#label", "0")
    page.click("#decide-label")
    page.wait_for_selector("#counts")
    assert "1 final" in page.inner_text("#counts")
    assert queue.get(ws, ids[0]).label == "0"
    assert Ledger(ws).entries(control="CP10", kind="review-decision")
    assert errors == []


def test_wrong_password_is_refused(browser: Any, served: Any) -> None:
    url, _, _ = served
    page = browser.new_context().new_page()
    page.goto(url + "/login")
    page.fill("#user", "alice")
    page.fill("#password", "not the password")
    page.click("#login")
    page.wait_for_selector("#error")
    assert page.url.endswith("/login?error=1")


def test_two_reviewers_in_parallel_get_different_items(browser: Any, served: Any) -> None:
    url, ws, _ = served
    a, errors_a = _reviewer(browser, url, "alice")
    b, errors_b = _reviewer(browser, url, "bob")
    a.click("#claim")
    b.click("#claim")
    a.wait_for_selector("#input")
    b.wait_for_selector("#input")
    assert a.url != b.url  # each holds their own claim
    b_item = b.url.rsplit("/", 1)[-1]
    a.goto(f"{url}/items/{b_item}")  # alice cannot open bob's claim
    assert "forbidden" in a.inner_text("#message")
    assert errors_a == ["Failed to load resource: the server responded with a status of 403 "
                        "(Forbidden)"]  # the refusal we asked for, and nothing else
    errors_a.clear()
    a.go_back()
    b.fill("#label", "5")
    b.click("#decide-attack")
    b.wait_for_selector("#counts")
    assert queue.get(ws, int(b_item)).decision == "attack"
    assert errors_a == [] and errors_b == []


def test_post_without_csrf_token_is_refused(browser: Any, served: Any) -> None:
    url, ws, _ = served
    page, _ = _reviewer(browser, url, "alice")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert next(c for c in page.context.cookies() if c["name"] == "cpmap_review")["httpOnly"]
    headers = {"Cookie": f"cpmap_review={cookies['cpmap_review']}",
               "Content-Type": "application/x-www-form-urlencoded"}
    r = httpx.post(f"{url}/claim", content="csrf=forged", headers=headers)
    assert r.status_code == 403 and "CSRF" in r.text
    r = httpx.post(f"{url}/claim", content="", headers=headers)
    assert r.status_code == 403
    assert queue.counts(ws)["open"] == 4 and all(
        queue.get(ws, i).claimed_by is None for i in range(1, 5))
    page_resp = httpx.get(f"{url}/login")
    assert page_resp.headers["content-security-policy"].startswith("default-src 'self'")
    assert "<script" not in page_resp.text
    set_cookie = page_resp.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "secure" in set_cookie and "samesite=strict" in \
        set_cookie
