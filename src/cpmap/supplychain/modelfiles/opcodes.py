"""Decode pickle opcodes the way the loaders do, not the way ``pickletools.genops`` does.

``genops`` is a disassembler: it reads bytes in order, ignores frames, and parses text
arguments more strictly than CPython's C unpickler. Each difference is a way to show a scanner
other opcodes than the ones a loader runs, so this decoder follows the loaders instead:

* **Frames.** ``FRAME n`` makes the C unpickler read ``n`` bytes into its buffer. Reading from a
  stream without ``peek()`` (``torch.load`` on a zip checkpoint, ``pickle.load`` of a frame larger
  than the read buffer), an opcode that does not fit in what is left of the buffer makes it drop
  those bytes and read the opcode from *after* the frame; ``pickletools`` reads on in sequence and
  the pure-Python unpickler refuses. :class:`CStreamView` replays the C behaviour so that its view
  can be scanned too; the sequential pass reports every frame that disagrees with its contents.
* **Text arguments.** The C unpickler stops reading a number at a NUL byte (``I1\\x00junk``),
  reads ``INT`` in base 0 (``I0x10``), and does not escape-decode ``GLOBAL``/``PERSID`` lines.
  ``genops`` raises on all of these, which used to end the scan while the loader went on.
  Numbers are read as the C unpickler reads them (falling back to the Python unpickler's rules),
  a disagreement between the two is reported, and names are taken raw.

Only genuinely unreadable bytes (no loader gets past them) raise :class:`Malformed`.
"""

from __future__ import annotations

import codecs
import pickletools
import re
from collections.abc import Callable, Iterator
from typing import IO, Any

from cpmap.supplychain.modelfiles.report import ModelVerdict

_CODE2OP = {op.code.encode("latin-1"): op for op in pickletools.opcodes}
OPCODE_BYTES = frozenset(_CODE2OP)
# opcode byte -> (descriptor, name, argument size: 0 none, n > 0 fixed, -1 variable)
_INFO = {code: (op, op.name, 0 if op.arg is None else op.arg.n if op.arg.n > 0 else -1)
         for code, op in _CODE2OP.items()}

# (verdict, code, message, byte offset): how the decoder reports what loaders disagree on.
Note = Callable[[ModelVerdict, str, str, int], None]


class Malformed(Exception):
    """The opcode stream cannot be replayed (a real unpickler would fail here too)."""


# One decoded opcode: (name, argument, offset of the opcode, offset after its argument). A plain
# tuple, not a NamedTuple: one is made per opcode and the named kind costs a call each.
Op = tuple[str, Any, int, int]


class CStreamView:
    """The C unpickler's input buffer over a stream that has no ``peek()``.

    After ``FRAME n`` the buffer holds the frame; a read or line that does not fit in the rest
    of it discards that rest and is served from the stream after the frame (``_pickle.c``:
    ``_Unpickler_ReadImpl``, ``_Unpickler_Readline``, ``load_frame``).
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._buf = b""
        self._idx = 0

    def tell(self) -> int:
        return self._fh.tell() - (len(self._buf) - self._idx)

    def read(self, n: int = -1) -> bytes:
        if 0 <= n and self._idx + n <= len(self._buf):
            self._idx += n
            return self._buf[self._idx - n:self._idx]
        self.drop()
        return self._fh.read(n)

    def readline(self) -> bytes:
        end = self._buf.find(b"\n", self._idx)
        if end >= 0:
            line, self._idx = self._buf[self._idx:end + 1], end + 1
            return line
        self.drop()
        return self._fh.readline()

    def frame(self, n: int) -> None:
        if self._idx + n <= len(self._buf):
            return  # it fits in the current buffer: a no-op for the C unpickler
        chunks, left = [], n
        while left > 0:  # in steps: a hostile length must not become one huge allocation
            chunk = self._fh.read(min(left, 1 << 20))
            if not chunk:
                raise Malformed(f"FRAME of {n} bytes runs past the end of the data")
            chunks.append(chunk)
            left -= len(chunk)
        self._buf, self._idx = b"".join(chunks), 0

    def drop(self) -> None:
        """Forget the buffer, keeping the stream where the C unpickler would leave it."""
        self._buf, self._idx = b"", 0

    def peek(self, n: int = 1) -> bytes:
        """The next bytes of a *new* load: each ``pickle.load`` starts with an empty buffer."""
        self.drop()
        peek = getattr(self._fh, "peek", None)
        if peek is not None:
            return bytes(peek(n)[:n])
        here = self._fh.tell()
        head = self._fh.read(n)
        self._fh.seek(here)
        return head

    def seekable(self) -> bool:
        return False


class Decoder:
    """Opcodes up to and including STOP, with their arguments as a loader reads them.

    ``frame`` is the frame the last opcode was read from, ``(FRAME offset, end of contents)``,
    in the sequential view; the C stream view follows its own buffer instead.
    """

    def __init__(self, fh: IO[bytes], note: Note, c_stream: bool = False) -> None:
        self.fh = fh
        self.note = note
        self.c_stream = c_stream
        self.frame: tuple[int, int] | None = None

    def ops(self) -> Iterator[Op]:
        """One :data:`Op` per opcode, STOP included."""
        fh, note, c_stream = self.fh, self.note, self.c_stream
        while True:
            pos = fh.tell()  # read each time: joblib arrays are skipped by seeking
            code = fh.read(1)
            info = _INFO.get(code)
            if info is None:
                raise Malformed("pickle exhausted before STOP" if not code
                                else f"unknown opcode {code!r} at @{pos}")
            op, name, fixed = info
            arg: Any
            if fixed >= 0:  # none or fixed-size: read in order, no tell()
                try:
                    arg = op.arg.reader(fh) if fixed else None  # type: ignore[union-attr]
                except ValueError as e:  # a short read: the stream ends inside the opcode
                    raise Malformed(f"{name} at @{pos}: {e}"[:200]) from e
                end = fh.tell() if c_stream else pos + 1 + fixed
            else:
                arg = _read_arg(op, fh, pos, note)
                end = fh.tell()
            frame = self.frame
            if c_stream:
                if name == "FRAME" and isinstance(fh, CStreamView):
                    fh.frame(arg)
            elif (name == "FRAME" or name == "STOP" or frame is not None
                  and (pos >= frame[1] or end > frame[1])):
                self.frame = _track_frame(frame, name, arg, pos, end, note)
            yield name, arg, pos, end
            if name == "STOP":
                return

    def in_frame_before(self, end: int) -> bool:
        """Whether the current frame still holds bytes after ``end``."""
        return self.frame is not None and self.frame[1] > end


def _track_frame(frame: tuple[int, int] | None, name: str, arg: Any, pos: int, end: int,
                 note: Note) -> tuple[int, int] | None:
    if frame is not None and pos >= frame[1]:
        frame = None  # the frame ended exactly at an opcode boundary, as picklers write it
    if frame is not None and end > frame[1]:
        note(ModelVerdict.MALICIOUS, "frame-straddle",
             f"{name} at @{pos} crosses the end of the FRAME at @{frame[0]} (@{frame[1]}): "
             "the C unpickler reading a stream drops the rest of the frame and decodes other "
             "opcodes than pickletools (frame-boundary evasion)", pos)
        frame = None
    if name == "FRAME":
        if frame is not None:
            note(ModelVerdict.SUSPICIOUS, "malformed-frame",
                 f"FRAME at @{pos} begins inside the FRAME at @{frame[0]}: the Python "
                 "unpickler refuses it, the C unpickler re-frames (loaders disagree)", pos)
        frame = (pos, end + int(arg))
    elif name == "STOP" and frame is not None and end < frame[1]:
        note(ModelVerdict.SUSPICIOUS, "malformed-frame",
             f"the FRAME at @{frame[0]} declares {frame[1] - frame[0] - 9} bytes but its "
             f"pickle stops at @{end}, {frame[1] - end} bytes early (a truncated file, or "
             "bytes that only a stream reader skips)", pos)
    return frame


def _read_arg(op: pickletools.OpcodeInfo, fh: IO[bytes], pos: int, note: Note) -> Any:
    if op.arg is None:
        return None
    if op.arg.name == "stringnl_noescape_pair":
        return read_pair(fh, op.name, pos)
    reader = _TEXT_READERS.get(op.arg.name)
    if reader is None:
        try:
            return op.arg.reader(fh)
        except ValueError as e:  # short reads and negative lengths: every loader fails here
            raise Malformed(f"{op.name} at @{pos}: {e}"[:200]) from e
    return reader(_line(fh, op.name, pos), op.name, pos, note)


def _line(fh: IO[bytes], name: str, pos: int) -> bytes:
    line = fh.readline()
    if not line.endswith(b"\n"):
        raise Malformed(f"{name} at @{pos}: line argument truncated")
    return line[:-1]


def _number(text: bytes, name: str, pos: int, note: Note, c_base: int, py_base: int,
            convert: Callable[[str, int], Any]) -> Any:
    """A number as the C unpickler reads it (up to a NUL), else as the Python one does."""
    c_text = text.split(b"\x00", 1)[0].decode("latin-1")
    py_text = text.decode("latin-1")
    py_convert = _to_float if convert is _to_float else int
    c_val, py_val = _try(convert, c_text, c_base), _try(py_convert, py_text, py_base)
    if c_val is None and py_val is None:
        raise Malformed(f"{name} at @{pos}: no unpickler reads {text[:40]!r} as a number")
    if c_val != py_val or b"\x00" in text:
        note(ModelVerdict.SUSPICIOUS, "ambiguous-argument",
             f"{name} at @{pos}: the C and Python unpicklers read {text[:40]!r} differently "
             f"({c_val!r} vs {py_val!r}); no pickler writes this", pos)
    return c_val if c_val is not None else py_val


def _try(convert: Callable[[str, int], Any], text: str, base: int) -> Any:
    try:
        return convert(text, base)
    except (ValueError, OverflowError):
        return None


_STRTOL = re.compile(r"[ \t\n\r\f\v]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")


def _to_int(text: str, base: int) -> int:
    match = _STRTOL.match(text) if base == 0 else None
    if match is not None:  # what C strtol(base 0) accepts: a leading 0 is octal
        sign, digits = match.groups()
        value = int(digits, 16 if digits[1:2] in ("x", "X") else 8 if digits[:1] == "0" else 10)
        return -value if sign == "-" else value
    return int(text, base)


def _to_float(text: str, _base: int) -> float:
    return float(text)


def _int_arg(text: bytes, name: str, pos: int, note: Note) -> Any:
    # INT: C strtol base 0 / Python int(x, 0); PUT and GET: base 10 in both.
    if name == "INT" and text in (b"00", b"01"):
        return text == b"01"  # protocol 0 writes True and False as INT 01 and 00
    if name == "INT" and text.startswith(b"\x00"):
        note(ModelVerdict.SUSPICIOUS, "ambiguous-argument",
             f"INT at @{pos}: an empty number before a NUL (the C unpickler reads 0)", pos)
        return 0  # strtol reads no digit and stops at the NUL: C accepts it as 0
    base = 0 if name == "INT" else 10
    return _number(text, name, pos, note, base, base, _to_int)


def _long_arg(text: bytes, name: str, pos: int, note: Note) -> Any:
    return _number(text.removesuffix(b"L"), name, pos, note, 10, 0, _to_int)


def _float_arg(text: bytes, name: str, pos: int, note: Note) -> Any:
    return _number(text, name, pos, note, 0, 0, _to_float)


def _string_arg(text: bytes, name: str, pos: int, _note: Note) -> str:
    if len(text) < 2 or text[0] != text[-1] or text[:1] not in (b"'", b'"'):
        raise Malformed(f"{name} at @{pos}: the STRING argument must be quoted")
    try:
        raw = codecs.escape_decode(text[1:-1])[0]
    except ValueError as e:
        raise Malformed(f"{name} at @{pos}: {e}") from e
    try:
        return raw.decode("utf-8")  # torch.load's encoding; ASCII loaders fail on the rest
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _unicode_arg(text: bytes, name: str, pos: int, _note: Note) -> str:
    try:
        return str(text, "raw-unicode-escape")
    except UnicodeDecodeError as e:
        raise Malformed(f"{name} at @{pos}: {e}"[:200]) from e


def _name_arg(text: bytes, name: str, pos: int, _note: Note) -> str:
    try:
        return text.decode("utf-8")  # raw: the loaders do not escape-decode import names
    except UnicodeDecodeError as e:
        raise Malformed(f"{name} at @{pos}: import name is not UTF-8") from e


_TEXT_READERS: dict[str, Callable[[bytes, str, int, Note], Any]] = {
    "decimalnl_short": _int_arg, "decimalnl_long": _long_arg, "floatnl": _float_arg,
    "stringnl": _string_arg, "unicodestringnl": _unicode_arg, "stringnl_noescape": _name_arg,
}


def read_pair(fh: IO[bytes], name: str, pos: int) -> tuple[str, str]:
    """GLOBAL and INST: two raw UTF-8 lines, module then name (never split on a space)."""
    module = _name_arg(_line(fh, name, pos), name, pos, _ignore)
    return module, _name_arg(_line(fh, name, pos), name, pos, _ignore)


def _ignore(_v: ModelVerdict, _c: str, _m: str, _p: int) -> None:
    return None
