"""What a reviewer sees of an input: digits as PNG images, table rows with PII redacted."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def png(values: list[float], shape: str, scale: int = 16) -> bytes:
    """An image item as a grayscale PNG (``shape`` "HxW", values in 0..1), enlarged."""
    from PIL import Image

    h, w = (int(s) for s in shape.split("x"))
    arr = np.clip(np.asarray(values, dtype=np.float64)[: h * w].reshape(h, w), 0.0, 1.0)
    img = Image.fromarray((arr * 255).astype(np.uint8), mode="L")
    img = img.resize((w * scale, h * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def redacted_row(row: dict[str, Any]) -> list[tuple[str, str]]:
    """A table row's cells with every PII span the CP2 engine finds replaced by its type."""
    from cpmap.privacy.detect import RegexAnalyzer

    analyzer = RegexAnalyzer(None)
    out = []
    for key, value in row.items():
        text = str(value)
        edge = len(text)
        for m in sorted(analyzer.analyze(text), key=lambda m: (m.start, -m.end), reverse=True):
            if m.end <= edge:  # overlapping spans: one replacement, never a span twice
                text, edge = f"{text[:m.start]}[{m.entity}]{text[m.end:]}", m.start
        out.append((str(key), text))
    return out
