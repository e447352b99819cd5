"""Markdown model cards carry card fields as text: raw HTML from a card file is escaped."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpmap.core.findings import Finding, Severity
from cpmap.core.workspace import Workspace
from cpmap.formats.markdown import findings as findings_md
from cpmap.registry import card_render
from cpmap.registry.card import build_card
from cpmap.registry.versions import register

PAYLOADS = ['<img src=x onerror="alert(1)">', "<script>alert(1)</script>",
            '<a href="javascript:alert(1)">x</a>', "<iframe srcdoc='<b>x</b>'></iframe>",
            "<svg onload=alert(1)>", "</textarea><details open ontoggle=alert(1)>"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_card_fields_are_escaped(ws: Workspace, tmp_path: Path, payload: str) -> None:
    (tmp_path / "m.bin").write_bytes(payload.encode())
    mv = register(ws, "clf", tmp_path / "m.bin", card={"intended_use": payload}).version
    card = build_card(ws, mv, {"limitations": [payload, "ok"], "description": payload,
                               "ethical_considerations": payload})
    md = card_render.markdown(card)
    assert "<" not in md.split("---", 2)[2], "raw markup in the card body"
    assert md.count(payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")) >= 3
    assert "<script" not in card_render.html(card).lower().replace("&lt;script", "")


def test_findings_markdown_escapes_messages() -> None:
    md = findings_md([Finding("CP3-X", Severity.HIGH, "<img src=x onerror=alert(1)>")],
                     "<b>t</b>")
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md and "<b>" not in md
