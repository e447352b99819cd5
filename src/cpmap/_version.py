"""The version of cpmap, in a module of its own.

Modules that stamp it on what they write (evidence, manifests, SBOMs, SARIF) import it from
here: importing the ``cpmap`` package instead would make each of them part of an import cycle
with the public API that ``cpmap/__init__.py`` exports.
"""

from __future__ import annotations

__version__ = "0.1.0"
