"""Static pickle analysis: walk every opcode with a symbolic stack and memo, never unpickle.

``pickletools.genops`` decodes opcodes without executing them. We replay the stack effects on
symbolic values (constants, imported globals, calls) so that ``STACK_GLOBAL`` operands fetched
from the memo, calls on computed objects (getattr chains), ``BUILD`` on imported objects and bytes
handed to ``pickle.loads`` / ``torch.storage._load_from_bytes`` (nested payloads) are all seen.
Every stream in a file is walked: concatenated pickles, the legacy torch format (five pickles
followed by raw storage bytes, which are never read) and joblib's inline numpy buffers, which are
skipped by seeking past them.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, cast

from cpmap.supplychain.modelfiles.handlers import HANDLERS, PUSH_ARG
from cpmap.supplychain.modelfiles.opcodes import (
    OPCODE_BYTES,
    CStreamView,
    Decoder,
    Malformed,
)
from cpmap.supplychain.modelfiles.policy import NESTED_LOADERS, classify_import
from cpmap.supplychain.modelfiles.report import Collector, ModelVerdict
from cpmap.supplychain.modelfiles.symbols import (
    Call,
    Global,
    Opaque,
    SymDict,
    const_bytes,
    fold_str,
)

LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
MAX_STREAMS = 10_000
MAX_DEPTH = 4
MAX_OPS = 50_000_000  # per stream: ~1 minute of analysis; past it the verdict cannot be safe
C_VIEW = "[C stream view]"
_DTYPE = re.compile(r"[<>|=]?[biufcmMOSUV]\d*\Z")


_GETATTR = frozenset({("builtins", "getattr")})


@dataclass(eq=False)
class _PendingGetattr:
    ref: Global
    why: str
    where: str
    safe_calls: int = 0
    other_calls: int = 0


@dataclass
class Scanner:
    """Scans the pickle streams of one byte source into a :class:`Collector`."""

    col: Collector
    where: str = ""
    depth: int = 0
    legacy_torch: bool = False
    c_stream: bool = False  # replaying the C unpickler's buffered view (see opcodes.py)
    reopen: Callable[[], IO[bytes]] | None = None  # the same bytes again, for that view
    frame_issue: bool = False

    def scan_all(self, fh: IO[bytes]) -> None:
        """Every pickle in ``fh``: concatenated streams, or the legacy torch sequence; then,
        if a frame disagreed with its contents, the same bytes as the C unpickler reads them."""
        origin = fh.tell()
        count = self._scan_streams(fh)
        if count > 1 and not self.legacy_torch and not self.c_stream:
            self.col.add(ModelVerdict.SAFE, "multiple-streams",
                         f"{count} pickle streams in one file: pickle.load in a loop runs "
                         "them all, so all were scanned", self.where)
        if self.frame_issue and not self.c_stream:
            self._scan_c_view(fh, origin)

    def _scan_streams(self, fh: IO[bytes]) -> int:
        count = 0
        expected: int | None = None
        while count < MAX_STREAMS and (expected is None or count < expected):
            start = fh.tell()
            head = _peek1(fh)
            if not head:
                break
            if count and head not in OPCODE_BYTES:
                self.col.add(ModelVerdict.SUSPICIOUS, "trailing-data",
                             f"data after pickle stream {count} is not a pickle",
                             self._at(start))
                break
            ok, value = self.scan_stream(fh, count)
            if not ok:
                break
            if count == 0 and value == LEGACY_TORCH_MAGIC:
                expected = 5  # magic, protocol, sys_info, object, storage keys; then raw data
                self.legacy_torch = True
            count += 1
        return count

    def _scan_c_view(self, fh: IO[bytes], origin: int) -> None:
        """Scan again through :class:`CStreamView`: what torch.load's reader would run."""
        if self.reopen is not None:
            again = self.reopen()
        elif fh.seekable():
            fh.seek(origin)
            again = fh
        else:
            return  # the frame anomaly itself carries the verdict
        where = f"{self.where} {C_VIEW}".strip()
        view = cast(IO[bytes], CStreamView(again))
        Scanner(self.col, where, self.depth, c_stream=True).scan_all(view)

    def scan_stream(self, fh: IO[bytes], index: int = 0) -> tuple[bool, Any]:
        """One stream up to its STOP; returns (parsed completely, value left on the stack)."""
        machine = Machine(self, fh, index)
        try:
            return True, machine.run()
        except (Malformed, ValueError, IndexError, KeyError, TypeError, EOFError,
                MemoryError) as e:  # MemoryError: a length no file holds, read by pickletools
            self.col.add(ModelVerdict.SUSPICIOUS, "malformed-pickle",
                         f"pickle stream {index} is malformed: {e}"[:300], self.where)
            return False, None

    def _at(self, offset: int) -> str:
        return f"{self.where} @{offset}" if self.where else f"@{offset}"

    def nested(self, payload: bytes, loader: Global) -> None:
        if self.depth >= MAX_DEPTH:
            self.col.add(ModelVerdict.SUSPICIOUS, "nesting-too-deep",
                         f"payloads nested more than {MAX_DEPTH} deep", self.where)
            return
        where = f"{self.where} > {loader.qual}" if self.where else loader.qual
        Scanner(self.col, where, self.depth + 1).scan_all(io.BytesIO(payload))


class Machine:
    """Symbolic replay of one stream: stack, metastack (MARK) and memo."""

    def __init__(self, scanner: Scanner, fh: IO[bytes], index: int) -> None:
        self.s = scanner
        self.col = scanner.col
        self.fh = fh
        self.index = index
        self.stack: list[Any] = []
        self.meta: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.proto: int | None = None  # None until a PROTO opcode: the loaders then assume 0
        self.dec = Decoder(fh, self.note, c_stream=scanner.c_stream)
        self.end = 0
        self.count = 0
        self.getattrs: dict[int, _PendingGetattr] = {}

    def run(self) -> Any:
        try:
            return self._run()
        finally:
            self.finish()

    def _run(self) -> Any:
        for count, (name, arg, pos, end) in enumerate(self.dec.ops()):
            if count >= MAX_OPS:
                raise Malformed(f"more than {MAX_OPS:,} opcodes: too large to analyse")
            self.end, self.count = end, count
            if name == "STOP":
                return self.stack[-1] if self.stack else None
            handler = HANDLERS.get(name)
            if handler is not None:
                handler(self, arg, pos)
            elif name in PUSH_ARG:
                self.stack.append(arg)
        raise Malformed("no STOP opcode")

    def note(self, verdict: ModelVerdict, code: str, message: str, pos: int) -> None:
        """What the decoder found that loaders disagree on (reported in the sequential view)."""
        if self.s.c_stream:
            return
        if code in ("frame-straddle", "malformed-frame"):
            self.s.frame_issue = True
        self.col.add(verdict, code, message, self.where(pos))

    def protocol(self, value: int, pos: int | None) -> None:
        if value > 5:
            self.note(ModelVerdict.SUSPICIOUS, "unsupported-protocol",
                      f"PROTO {value}: no unpickler reads past this opcode", pos or 0)
        elif self.proto is not None and value != self.proto:
            self.note(ModelVerdict.SUSPICIOUS, "protocol-switch",
                      f"PROTO {value} after PROTO {self.proto}: no pickler writes this; it "
                      "changes how the loaders resolve the imports that follow", pos or 0)
        self.proto = value

    # -- helpers -------------------------------------------------------------------------
    def pop_mark(self) -> list[Any]:
        items = self.stack
        if not self.meta:
            raise Malformed("MARK expected")
        self.stack = self.meta.pop()
        return items

    def where(self, pos: int | None) -> str:
        base = self.s.where
        tag = f"stream {self.index} @{pos}" if pos is not None else f"stream {self.index}"
        return f"{base} {tag}".strip()

    def global_(self, module: Any, name: Any, pos: int | None) -> Any:
        module, name = fold_str(module), fold_str(name)
        if not isinstance(module, str) or not isinstance(name, str):
            # Legitimate picklers write import names as literals; computing them is evasion.
            self.col.add(ModelVerdict.MALICIOUS, "dynamic-global",
                         "STACK_GLOBAL import name is computed at load time (evasion)",
                         self.where(pos))
            return Opaque("dynamic global")
        verdict, why, (module, name) = classify_import(module, name, self.proto or 0)
        self.col.note_global(f"{module}.{name}")
        found = Global(module, name)
        if (module, name) in _GETATTR:
            # Below protocol 4 pickle writes Class.method as getattr(Class, "method"): judged
            # at each call (see _fold_getattr), malicious unless every call resolves safely.
            self.getattrs[id(found)] = _PendingGetattr(found, why, self.where(pos))
        elif verdict is not ModelVerdict.SAFE:
            self.col.add(verdict, f"global-{verdict.value}", why, self.where(pos))
        return found

    def call(self, func: Any, args: Any, pos: int | None, kind: str) -> Any:
        pending = self.getattrs.get(id(func)) if isinstance(func, Global) else None
        if pending is not None:
            return self._fold_getattr(pending, args, pos, kind)
        if not isinstance(func, Global):
            self.col.add(ModelVerdict.SUSPICIOUS, "computed-call",
                         f"{kind} calls an object computed at load time (getattr chain or "
                         "similar)", self.where(pos))
        elif (func.module, func.name) in NESTED_LOADERS:
            first = const_bytes(args[0] if isinstance(args, tuple) and args else None)
            if first is not None:
                self.s.nested(first, func)
            else:
                self.col.add(ModelVerdict.SUSPICIOUS, "nested-unchecked",
                             f"{func.qual} is given a payload computed at load time",
                             self.where(pos))
        return Call(func, args)

    def _fold_getattr(self, pending: _PendingGetattr, args: Any, pos: int | None,
                      kind: str) -> Any:
        """``getattr(Global, "literal")`` is the import ``Global.literal``: judge that."""
        target = args[0] if isinstance(args, tuple) and len(args) == 2 else None
        attr = fold_str(args[1]) if isinstance(target, Global) else None
        if isinstance(target, Global) and isinstance(attr, str):
            chained = f"{target.name}.{attr}"
            if classify_import(target.module, chained, self.proto or 0)[0] is ModelVerdict.SAFE:
                pending.safe_calls += 1
                return self.global_(target.module, chained, pos)
        pending.other_calls += 1
        return Call(pending.ref, args)

    def finish(self) -> None:
        """getattr that was called on anything but allowlisted names, or only referenced."""
        for p in self.getattrs.values():
            if p.other_calls or not p.safe_calls:
                self.col.add(ModelVerdict.MALICIOUS, "global-malicious", p.why, p.where)
        self.getattrs.clear()

    def build(self, pos: int | None) -> None:
        state = self.stack.pop()
        obj = self.stack[-1]
        if isinstance(obj, Global):
            self.col.add(ModelVerdict.MALICIOUS, "build-on-global",
                         f"BUILD overwrites attributes of the imported object {obj.qual}",
                         self.where(pos))
        if isinstance(obj, Call):
            obj.state = state
            if _is_joblib_wrapper(obj):
                if self.dec.in_frame_before(self.end):
                    self.note(ModelVerdict.MALICIOUS, "frame-straddle",
                              "a joblib array inside a frame: joblib reads its data from after "
                              "the frame, the unpickler the rest of the frame (evasion)", pos or 0)
                self.skip_joblib_array(state, pos)

    def skip_joblib_array(self, state: Any, pos: int | None) -> None:
        """joblib writes each array's raw bytes right after its wrapper: seek past them."""
        if not isinstance(state, SymDict):
            raise Malformed("joblib array wrapper without a state dict")
        shape, dtype = state.get("shape"), state.get("dtype")
        desc = _dtype_desc(dtype)
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise Malformed("joblib array wrapper with a non-integer shape")
        if desc is not None and desc.lstrip("<>|=").startswith("O"):
            Scanner(self.col, f"{self.where(pos)} joblib object array", self.s.depth + 1
                    ).scan_stream(self.fh)
            return
        itemsize = _itemsize(desc, dtype)
        if state.get("numpy_array_alignment_bytes") is not None:
            pad = self.fh.read(1)
            if not pad:
                raise Malformed("joblib array padding missing")
            _skip(self.fh, pad[0])
        _skip(self.fh, math.prod(shape) * itemsize)


SNIFF_BYTES = 1 << 16
_SNIFF_MIN_OPS = 3


def looks_like_pickle(head: bytes, whole: bool) -> bool:
    """Protocol 0 and 1 pickles have no magic number: replay the opcodes of the first bytes.

    ``head`` is the file's first :data:`SNIFF_BYTES` (``whole``: the entire file). A pickle
    replays to its STOP, or, when the file is longer, runs out of bytes after a few opcodes;
    text and other binaries break the stack or the memo within a few bytes.
    """
    if head[:1] not in OPCODE_BYTES:
        return False
    fh = io.BytesIO(head)
    machine = Machine(Scanner(Collector()), fh, 0)
    try:
        machine.run()
    except (Malformed, ValueError, IndexError, KeyError, TypeError, EOFError):
        return not whole and fh.tell() >= len(head) and machine.count >= _SNIFF_MIN_OPS
    return machine.count > 0  # a lone STOP is no pickle


def _peek1(fh: IO[bytes]) -> bytes:
    """The next byte without consuming it (decompressors cannot seek back cheaply)."""
    peek = getattr(fh, "peek", None)
    if peek is not None:
        return bytes(peek(1)[:1])
    here = fh.tell()
    head = fh.read(1)
    fh.seek(here)
    return head


def _is_joblib_wrapper(obj: Call) -> bool:
    cls = obj.func
    if isinstance(cls, Global) and cls.module.startswith("copy") and cls.name == "_reconstructor":
        cls = obj.args[0] if isinstance(obj.args, tuple) and obj.args else None
    return (isinstance(cls, Global) and cls.module == "joblib.numpy_pickle"
            and cls.name == "NumpyArrayWrapper")


def _dtype_desc(dtype: Any) -> str | None:
    if isinstance(dtype, Call) and isinstance(dtype.args, tuple) and dtype.args:
        desc = dtype.args[0]
        if isinstance(desc, str) and _DTYPE.match(desc):
            return desc
    return None


def _itemsize(desc: str | None, dtype: Any) -> int:
    """Bytes per element of a dtype rebuilt as ``numpy.dtype(desc)`` + BUILD state."""
    import numpy as np

    if desc is None:
        raise Malformed("joblib array with a structured or unknown dtype")
    size = int(np.dtype(desc).itemsize)
    state = dtype.state if isinstance(dtype, Call) else None
    if size == 0 and isinstance(state, tuple) and len(state) > 5 and isinstance(state[5], int):
        size = state[5]  # flexible dtypes (U, S, V) carry their element size in the state
    if size <= 0:
        raise Malformed(f"joblib array dtype {desc!r} has no element size")
    return size


def _skip(fh: IO[bytes], n: int) -> None:
    """Move past ``n`` bytes: a seek on plain files (nothing read), a drain on decompressors."""
    if n <= 0:
        return
    if fh.seekable():
        cur = fh.tell()
        if cur + n > fh.seek(0, io.SEEK_END):
            raise Malformed("joblib array data is truncated")
        fh.seek(cur + n)
        return
    while n > 0:
        chunk = fh.read(min(n, 1 << 20))
        if not chunk:
            raise Malformed("joblib array data is truncated")
        n -= len(chunk)


def scan_pickle_bytes(data: bytes, col: Collector, where: str = "") -> None:
    """Scan every pickle stream in ``data`` (a convenience for members read into memory)."""
    Scanner(col, where).scan_all(io.BytesIO(data))
