"""The lineage graph of a model version as inline SVG (no scripts, no external resources).

Layered left to right: the oldest recorded dataset ancestors, the training data, the model
version; its parent version and environment SBOM hang below it. Each node shows a name and a
short digest, coloured by the gate status of the control that vouches for it (CP1 for data,
the overall gate for the model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

W, H, GAP_X, GAP_Y, PAD = 190, 44, 70, 18, 14
COLORS = {"pass": "#1a7f37", "fail": "#cf222e", "missing": "#cf222e", "not-required": "#8c959f",
          "info": "#0969da"}


@dataclass(frozen=True)
class Node:
    key: str
    label: str
    digest: str
    status: str


def _depths(datasets: Sequence[str], parents: Mapping[str, list[str]]) -> dict[str, int]:
    """Distance from the model: training data 1, their parents 2, ..."""
    depth: dict[str, int] = {}
    todo = [(d, 1) for d in datasets]
    while todo:
        d, k = todo.pop(0)
        if depth.get(d, 0) >= k or k > 50:
            continue
        depth[d] = k
        todo.extend((p, k + 1) for p in parents.get(d, []))
    return depth


def _box(x: int, y: int, n: Node) -> str:
    color = COLORS.get(n.status, "#8c959f")
    label = n.label if len(n.label) <= 26 else n.label[:25] + "…"
    return (f'<g class="node" data-key="{escape(n.key)}"><rect x="{x}" y="{y}" width="{W}" '
            f'height="{H}" rx="6" fill="#fff" stroke="{color}" stroke-width="2"/>'
            f'<text x="{x + 10}" y="{y + 18}" font-size="12" font-weight="600" '
            f'fill="#1f2328">{escape(label)}</text>'
            f'<text x="{x + 10}" y="{y + 34}" font-size="10.5" fill="#57606a" '
            f'font-family="monospace">sha256:{escape(n.digest[:16])}</text>'
            f"<title>{escape(n.label)} sha256:{escape(n.digest)} ({escape(n.status)})</title>"
            "</g>")


def _edge(x1: int, y1: int, x2: int, y2: int, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#57606a" '
            f'stroke-width="1.4" marker-end="url(#arrow)"{dash}/>')


def render(model: Node, datasets: Sequence[str], parents: Mapping[str, list[str]],
           nodes: Mapping[str, Node], below: Sequence[Node] = ()) -> str:
    """SVG text for the graph. ``nodes`` maps dataset digests to their nodes."""
    depth = _depths(datasets, parents)
    layers = max(depth.values(), default=0)
    columns: dict[int, list[str]] = {}
    for d, k in sorted(depth.items(), key=lambda kv: (kv[1], nodes[kv[0]].label)):
        columns.setdefault(k, []).append(d)
    tallest = max([len(c) for c in columns.values()] + [1])
    width = PAD * 2 + (layers + 1) * W + layers * GAP_X
    height = PAD * 2 + max(tallest, 1) * (H + GAP_Y) + (H + GAP_Y + 10 if below else 0)
    pos: dict[str, tuple[int, int]] = {}
    for k, col in columns.items():
        x = PAD + (layers - k) * (W + GAP_X)
        for row, d in enumerate(col):
            pos[d] = (x, PAD + row * (H + GAP_Y))
    mx, my = PAD + layers * (W + GAP_X), PAD
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="lineage-graph" role="img" '
             f'aria-label="lineage of {escape(model.label)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'fill="#57606a"/></marker></defs>']
    for d in depth:  # edges: parent -> child, training data -> model
        cx, cy = pos[d]
        parts += [_edge(pos[p][0] + W, pos[p][1] + H // 2, cx, cy + H // 2)
                  for p in parents.get(d, []) if p in pos]
        if d in datasets:
            parts.append(_edge(cx + W, cy + H // 2, mx, my + H // 2))
    parts += [_box(*pos[d], nodes[d]) for d in depth]
    parts.append(_box(mx, my, model))
    for i, n in enumerate(below):
        bx = mx - i * (W + GAP_X)
        by = PAD + max(tallest, 1) * (H + GAP_Y) + 10
        parts.append(_edge(bx + W // 2, by, mx + W // 2, my + H, dashed=True))
        parts.append(_box(bx, by, n))
    parts.append("</svg>")
    return "".join(parts)
