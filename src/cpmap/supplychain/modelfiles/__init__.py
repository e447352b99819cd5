"""Model-file scanning: a verdict (safe, suspicious, malicious) per file, never loading it.

Public API: :func:`scan_path` returns one :class:`FileReport` per model file; :func:`scan_tree`
also lists the files of a directory it could not recognise (:class:`Unclassified`). Pickles are
analysed opcode by opcode against an allowlist (see :mod:`.policy`); containers (torch zip and
legacy formats, numpy, joblib, compressed pickles, Keras, ONNX, safetensors) are opened with
limits and without reading tensor payloads.
"""

from __future__ import annotations

from cpmap.supplychain.modelfiles.report import (
    FileReport,
    ModelVerdict,
    PathScan,
    Reason,
    Unclassified,
)
from cpmap.supplychain.modelfiles.scan import scan_file, scan_path, scan_tree, summary

__all__ = ["FileReport", "ModelVerdict", "PathScan", "Reason", "Unclassified", "scan_file",
           "scan_path", "scan_tree", "summary"]
