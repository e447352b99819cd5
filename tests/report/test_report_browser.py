"""The Control Points Map in a real headless browser (Playwright driving the system Chromium):
it renders, logs no console errors, and every cell is present."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.predicate import Plot
from cpmap.core.workspace import Workspace
from cpmap.formats.report import write_report, write_version_report
from cpmap.registry.versions import register
from cpmap.robustness.predicates import ENSEMBLE, AttackRow, RobustnessEvaluation


def _open(browser: Any, page_path: Path) -> tuple[Any, list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, errors


def _version(ws: Workspace, tmp_path: Path) -> str:
    from cpmap.provenance.datasets import register_dataset

    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    dv = register_dataset(ws, "train", tmp_path / "train.csv", source="builtin:test")
    (tmp_path / "clean.csv").write_text("a,b\n1,2\n3,4\n")
    child = register_dataset(ws, "clean", tmp_path / "clean.csv", source="builtin:test",
                             parents=[dv.digest], transform="dedupe")
    (tmp_path / "m.safetensors").write_bytes(b"weights")
    mv = register(ws, "clf", tmp_path / "m.safetensors", datasets=[child.ref]).version
    fig_ref = _plot(ws)
    weak = RobustnessEvaluation(
        verdict=Verdict.INFO, clean_accuracy=0.97, worst_case={"0.15": 0.2},
        results=tuple(AttackRow(a, 0.15, 0.2) for a in ENSEMBLE), plots=(Plot.of(fig_ref),),
        highlights=("worst case eps 0.15: 20%",))
    record(Evidence.of(weak, [Subject(mv.ref, mv.digest)]), ws)
    return mv.ref


def _plot(ws: Workspace) -> dict[str, str]:
    from cpmap.core.artifacts import figure, save_plot

    fig = figure()
    fig.axes[0].plot([0, 0.1, 0.2], [0.97, 0.2, 0.0])
    return save_plot(ws, fig, "robustness curve")


def test_version_report_renders(browser: Any, ws: Workspace, tmp_path: Path) -> None:
    ref = _version(ws, tmp_path)
    path = write_version_report(ws, ref, tmp_path / "report")
    page, errors = _open(browser, path)
    assert page.locator("#map").is_visible()
    for i in range(1, 11):
        cell = page.locator(f"#cell-CP{i}")
        assert cell.count() == 1 and cell.is_visible(), f"CP{i}"
    assert page.locator("#cell-CP4").get_attribute("data-status") == "fail"
    assert page.locator("#cell-CP7").get_attribute("data-status") == "not-required"
    assert page.locator("#ledger-status").inner_text().startswith("Ledger verified")
    svg = page.locator("#lineage-graph")
    assert svg.is_visible() and svg.locator("g.node").count() == 3  # train, clean, model
    img = page.locator("#detail-CP4 img").first
    assert img.evaluate("i => i.complete && i.naturalWidth > 0")
    page.locator("#cell-CP4 details.reasons summary").click()
    assert "below 0.4" in page.locator("#cell-CP4 details.reasons").inner_text()
    assert errors == []
    page.close()


def test_workspace_report_renders(browser: Any, ws: Workspace, tmp_path: Path) -> None:
    _version(ws, tmp_path)
    path = write_report(ws, tmp_path / "all")
    page, errors = _open(browser, path)
    assert all(page.locator(f"#cell-CP{i}").count() == 1 for i in range(1, 11))
    assert page.locator("#cell-CP6").get_attribute("data-status") == "pass"
    registry = page.locator("#registry")
    assert registry.is_visible() and "clf@1" in registry.inner_text()
    assert errors == []
    page.close()
