"""Renderers: tables, JSON, Markdown, SARIF 2.1.0 and the HTML Control Points Map."""
