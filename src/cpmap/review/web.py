"""The review queue's web app: server-rendered pages, plain forms, no script.

Every response carries ``Content-Security-Policy: default-src 'self'`` (plus
``frame-ancestors 'none'`` and ``form-action 'self'``) and the pages hold no inline script or
style, so an injected string cannot run. Sessions are a random token in a ``Secure; HttpOnly;
SameSite=Strict`` cookie; every POST carries the session's CSRF token (the login form a
double-submit token from its own cookie) and is refused with 403 without it. Forms are read
as ``application/x-www-form-urlencoded`` only, capped at 64 KiB.

The app works at any mount point: links, redirects and the cookies' path come from the ASGI
``root_path`` (``/review`` when the gateway mounts it, :func:`cpmap.gateway.mount.mount`).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from cpmap.errors import InputError
from cpmap.review import accounts, queue
from cpmap.review.render import png, redacted_row

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

HERE = Path(__file__).parent
SESSION, LOGIN = "cpmap_review", "cpmap_review_login"
CSP = "default-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store"}
MAX_FORM = 64 * 1024
_ENV = Environment(loader=FileSystemLoader(HERE / "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True))


class Forbidden(Exception):
    """A POST without a valid CSRF token, or a page without a session."""


def _base(request: Request) -> str:
    """Where the app is mounted ("" at the root, "/review" on the gateway)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(_ENV.get_template(name).render(base=_base(request), **ctx), status,
                        headers=HEADERS)


def _to(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(_base(request) + path, 303, headers=HEADERS)


def _cookie(request: Request, resp: Response, name: str, value: str, secure: bool) -> None:
    resp.set_cookie(name, value, httponly=True, secure=secure, samesite="strict",
                    path=_base(request) + "/")


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0] != \
            "application/x-www-form-urlencoded":
        raise Forbidden("form expected")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise Forbidden("form too large")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def build(ws: Workspace, *, secure_cookies: bool = True) -> Starlette:
    """The app for ``ws``'s queue (``cpmap review serve`` runs it on 127.0.0.1)."""

    def who(request: Request) -> accounts.Session | None:
        return accounts.session(ws, request.cookies.get(SESSION))

    async def checked(request: Request) -> tuple[accounts.Session, dict[str, str]]:
        s = who(request)
        form = await _form(request)
        if s is None or not accounts.same(form.get("csrf", ""), s.csrf):
            raise Forbidden("bad CSRF token")
        return s, form

    async def login_page(request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        resp = _page(request, "login.html.j2", csrf=token,
                     error=request.query_params.get("error"))
        _cookie(request, resp, LOGIN, token, secure_cookies)
        return resp

    async def login(request: Request) -> Response:
        form = await _form(request)
        if not accounts.same(form.get("csrf", ""), request.cookies.get(LOGIN, "-")):
            raise Forbidden("bad CSRF token")
        role = accounts.check_password(ws, form.get("user", ""), form.get("password", ""))
        if role is None:
            return _to(request, "/login?error=1")
        token, _ = accounts.open_session(ws, form["user"])
        resp = _to(request, "/")
        _cookie(request, resp, SESSION, token, secure_cookies)
        resp.delete_cookie(LOGIN, path=_base(request) + "/")
        return resp

    async def logout(request: Request) -> Response:
        await checked(request)
        accounts.close_session(ws, request.cookies.get(SESSION, ""))
        resp = _to(request, "/login")
        resp.delete_cookie(SESSION, path=_base(request) + "/")
        return resp

    async def home(request: Request) -> Response:
        s = who(request)
        if s is None:
            return _to(request, "/login")
        return _page(request, "queue.html.j2", s=s, counts=queue.counts(ws),
                     empty=request.query_params.get("empty"))

    async def claim(request: Request) -> Response:
        s, _ = await checked(request)
        item = queue.claim(ws, s.user)
        if item is None:
            return _to(request, "/?empty=1")
        return _to(request, f"/items/{item.id}")

    def held(request: Request, s: accounts.Session) -> queue.Item:
        try:
            item = queue.get(ws, int(request.path_params["item"]))
        except InputError as e:
            raise Forbidden(str(e)) from e
        if item.claimed_by != s.user and s.role != "admin":
            raise Forbidden("not your claim")
        return item

    async def show(request: Request) -> Response:
        s = who(request)
        if s is None:
            return _to(request, "/login")
        item = held(request, s)
        cells = redacted_row(item.input) if item.input_kind == "row" else []
        return _page(request, "item.html.j2", s=s, item=item, cells=cells,
                     decisions=queue.DECISIONS)

    async def image(request: Request) -> Response:
        s = who(request)
        if s is None:
            raise Forbidden("no session")
        item = held(request, s)
        if item.input_kind != "image":
            raise Forbidden("not an image item")
        return Response(png(item.input, item.shape), 200, media_type="image/png",
                        headers=HEADERS)

    async def decide(request: Request) -> Response:
        s, form = await checked(request)
        item = held(request, s)
        decision = form.get("decision", "")
        label = form.get("label") or None
        try:
            queue.decide(ws, s.user, item.id, decision, label if decision != "noise" else None)
        except InputError as e:
            return _page(request, "item.html.j2", 400, s=s, item=item, error=e.message,
                         cells=[], decisions=queue.DECISIONS)
        return _to(request, "/")

    async def css(request: Request) -> Response:
        return Response((HERE / "static" / "review.css").read_bytes(), 200,
                        media_type="text/css", headers=HEADERS)

    async def favicon(request: Request) -> Response:
        return Response(b"", 204, headers=HEADERS)

    async def forbidden(request: Request, exc: Exception) -> Response:
        return _page(request, "error.html.j2", 403, message="forbidden: " + str(exc))

    routes = [Route("/login", login_page, methods=["GET"]),
              Route("/login", login, methods=["POST"]),
              Route("/logout", logout, methods=["POST"]),
              Route("/", home, methods=["GET"]), Route("/claim", claim, methods=["POST"]),
              Route("/items/{item:int}", show, methods=["GET"]),
              Route("/items/{item:int}/image.png", image, methods=["GET"]),
              Route("/items/{item:int}/decide", decide, methods=["POST"]),
              Route("/static/review.css", css, methods=["GET"]),
              Route("/favicon.ico", favicon, methods=["GET"])]
    return Starlette(routes=routes, exception_handlers={Forbidden: forbidden})
