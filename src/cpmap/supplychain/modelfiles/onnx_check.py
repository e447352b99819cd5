"""ONNX: a minimal protobuf walk (no onnx package needed) over a memory map.

ONNX holds no Python code, but tensors with external data name a file to read: a ``location``
that is absolute, climbs with ``..`` or resolves (through links) outside the model's directory
makes a loader read arbitrary files (CVE-2022-25882), so it is ``malicious``. Operators from
custom domains need a native library and are ``suspicious``. Raw tensor bytes are skipped by
their length prefix, never read.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path

from cpmap.supplychain.modelfiles.report import Collector, ModelVerdict

STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
                    "com.microsoft", "com.microsoft.nchwc", "org.pytorch.aten"}
MAX_DEPTH = 32


class ProtoError(Exception):
    """The bytes are not a well-formed protobuf message."""


def _varint(buf: memoryview | mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            break
    raise ProtoError("bad varint")


def fields(buf: mmap.mmap, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield (field number, wire type, value or offset, length) for one message's fields."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value, 0
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise ProtoError("length-delimited field runs past its message")
            yield number, wire, pos, length
            pos += length
        else:
            raise ProtoError(f"unsupported wire type {wire}")
    if pos != end:
        raise ProtoError("message runs past its end")


class _Walker:
    def __init__(self, buf: mmap.mmap, model_dir: Path, col: Collector, where: str) -> None:
        self.buf, self.dir, self.col, self.where = buf, model_dir, col, where
        self.locations: set[str] = set()

    def text(self, off: int, length: int) -> str:
        return bytes(self.buf[off:off + length]).decode("utf-8", "replace")

    def model(self, start: int, end: int) -> None:
        for num, wire, off, ln in fields(self.buf, start, end):
            if wire != 2:
                continue
            if num == 7:
                self.graph(off, off + ln, 0)
            elif num == 8:
                self.opset(off, off + ln)
            elif num == 25:
                self.function(off, off + ln)
            elif num == 20:  # training_info: initialization and algorithm graphs
                for n2, w2, o2, l2 in fields(self.buf, off, off + ln):
                    if w2 == 2 and n2 in (1, 2):
                        self.graph(o2, o2 + l2, 1)

    def opset(self, start: int, end: int) -> None:
        for num, wire, off, ln in fields(self.buf, start, end):
            if num == 1 and wire == 2:
                self.domain(self.text(off, ln), "opset import")

    def domain(self, name: str, what: str) -> None:
        if name not in STANDARD_DOMAINS:
            self.col.add(ModelVerdict.SUSPICIOUS, "onnx-custom-domain",
                         f"{what} uses custom operator domain {name!r} (needs a native library)",
                         self.where)

    def graph(self, start: int, end: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ProtoError("subgraphs nested too deep")
        for num, wire, off, ln in fields(self.buf, start, end):
            if wire != 2:
                continue
            if num == 1:
                self.node(off, off + ln, depth)
            elif num == 5:
                self.tensor(off, off + ln)
            elif num == 15:  # sparse initializer: values and indices tensors
                for n2, w2, o2, l2 in fields(self.buf, off, off + ln):
                    if w2 == 2 and n2 in (1, 2):
                        self.tensor(o2, o2 + l2)

    def function(self, start: int, end: int) -> None:
        for num, wire, off, ln in fields(self.buf, start, end):
            if wire == 2 and num == 7:
                self.node(off, off + ln, 1)
            elif wire == 2 and num == 9:
                self.opset(off, off + ln)

    def node(self, start: int, end: int, depth: int) -> None:
        for num, wire, off, ln in fields(self.buf, start, end):
            if wire != 2:
                continue
            if num == 7:
                self.domain(self.text(off, ln), "node")
            elif num == 5:
                self.attribute(off, off + ln, depth)

    def attribute(self, start: int, end: int, depth: int) -> None:
        for num, wire, off, ln in fields(self.buf, start, end):
            if wire != 2:
                continue
            if num in (6, 11):
                self.graph(off, off + ln, depth + 1)
            elif num in (5, 10):
                self.tensor(off, off + ln)

    def tensor(self, start: int, end: int) -> None:
        for num, wire, off, ln in fields(self.buf, start, end):
            if num == 13 and wire == 2:
                key = value = ""
                for n2, w2, o2, l2 in fields(self.buf, off, off + ln):
                    if w2 == 2 and n2 == 1:
                        key = self.text(o2, l2)
                    elif w2 == 2 and n2 == 2:
                        value = self.text(o2, l2)
                if key == "location":
                    self.location(value)

    def location(self, value: str) -> None:
        if value in self.locations:
            return
        self.locations.add(value)
        escapes = os.path.isabs(value) or ".." in Path(value).parts or "\\" in value
        target = (self.dir / value).resolve()
        if escapes or not target.is_relative_to(self.dir.resolve()):
            self.col.add(ModelVerdict.MALICIOUS, "onnx-external-escape",
                         f"external data location {value!r} points outside the model directory",
                         self.where)
        elif not target.is_file():
            self.col.add(ModelVerdict.SUSPICIOUS, "onnx-external-missing",
                         f"external data file {value!r} is missing", self.where)


def scan_onnx(path: Path, col: Collector, where: str = "") -> None:
    """Walk the model proto: opsets, graphs, subgraphs, functions and tensor external data."""
    size = path.stat().st_size
    if size == 0:
        col.add(ModelVerdict.SUSPICIOUS, "bad-onnx", "empty file", where)
        return
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        walker = _Walker(buf, path.parent, col, where)
        try:
            walker.model(0, size)
        except (ProtoError, IndexError) as e:
            col.add(ModelVerdict.SUSPICIOUS, "bad-onnx", f"not a well-formed ONNX model: {e}",
                    where)
