"""Shared fixtures: workspaces on SQLite and on a throwaway PostgreSQL schema."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PG_DSN = os.environ.get("CPMAP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_DSN.replace("+psycopg", ""), connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's workspace or database settings."""
    for name in list(os.environ):
        if name.startswith("CPMAP_") and name != "CPMAP_TEST_PG":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI (127.0.0.1:5432, database test)")
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    import psycopg

    schema = f"cpmap_t_{uuid.uuid4().hex[:12]}"
    raw = PG_DSN.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_DSN}?options=-csearch_path%3D{schema}"
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def ws(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh SQLite workspace."""
    from cpmap.core.workspace import init

    w = init(tmp_path / "proj", "test")
    yield w
    w.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_ws(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A fresh workspace on each store backend (the PostgreSQL one in its own schema)."""
    from cpmap.core.workspace import init

    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("CPMAP_DATABASE_URL", url)
    w = init(tmp_path / "proj", "test")
    yield w
    w.close()


CHROMIUM = os.environ.get("CPMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system Chromium through Playwright (never `playwright install`): the report's and
    the review queue's browser tests share it. Required in CI, skipped elsewhere without it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("no system Chromium at /usr/bin/chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
