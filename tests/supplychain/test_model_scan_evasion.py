"""Pickles on which pickletools and the real unpicklers disagree: frames, arguments, memo,
protocol, several streams; and the content sniffing of pickles that have no magic number."""

from __future__ import annotations

import importlib.util
import io
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpmap.supplychain.modelfiles import ModelVerdict, scan_file, scan_tree
from cpmap.supplychain.modelfiles.opcodes import CStreamView, Decoder, Malformed
from cpmap.supplychain.modelfiles.pickles import Scanner, looks_like_pickle
from cpmap.supplychain.modelfiles.policy import classify_import
from cpmap.supplychain.modelfiles.report import Collector

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "models"


def _load(name: str, file: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ASSETS / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


corpus = sys.modules.get("cpmap_model_corpus") or _load("cpmap_model_corpus", "corpus.py")
evasion = corpus._evasion_module()


class Case:
    def __init__(self, name: str, path: Path, expected: str, loader: str, live: bool) -> None:
        self.name, self.path, self.expected, self.loader, self.live = (
            name, path, expected, loader, live)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("evasion")
    out: dict[str, Case] = {}

    def add(name: str, data: bytes, expected: str = "malicious", loader: str = "pickle",
            live: bool = True) -> None:
        (root / name).write_bytes(data)
        out[name] = Case(name, root / name, expected, loader, live)

    evasion.build(root, root / "CANARY", add)
    return out


NAMES = ["frame_straddle_bytes.pkl", "frame_straddle_global.pkl", "frame_nested.pkl",
         "frame_past_stop.pkl", "frame_truncated.pkl", "int_nul_terminated.pkl",
         "int_base0_hex.pkl", "float_nul_terminated.pkl", "memo_nul_terminated.pkl",
         "string_utf8.pkl", "memo_memoize_sparse.pkl", "protocol_switch_rename.pkl",
         "protocol_6_after_payload.pkl", "negative_memo_index.pkl", "binary_no_proto.txt",
         "proto0_dill_ext.dill",
         "proto1_no_ext"]


def test_the_case_list_is_complete(cases: dict[str, Case]) -> None:
    assert sorted(cases) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_disagreement_gets_its_verdict(cases: dict[str, Case], name: str) -> None:
    report = scan_file(cases[name].path)
    assert report.verdict.value == cases[name].expected, report.reasons


@pytest.mark.parametrize(("name", "code"), [
    ("frame_straddle_bytes.pkl", "frame-straddle"), ("frame_straddle_global.pkl",
                                                     "frame-straddle"),
    ("frame_nested.pkl", "malformed-frame"), ("frame_past_stop.pkl", "malformed-frame"),
    ("frame_truncated.pkl", "malformed-frame"), ("int_nul_terminated.pkl", "ambiguous-argument"),
    ("memo_nul_terminated.pkl", "ambiguous-argument"),
    ("protocol_switch_rename.pkl", "protocol-switch"),
    ("protocol_6_after_payload.pkl", "unsupported-protocol"),
    ("frame_past_stop.pkl", "multiple-streams"),
])
def test_the_reason_names_the_disagreement(cases: dict[str, Case], name: str, code: str) -> None:
    assert code in {r.code for r in scan_file(cases[name].path).reasons}


@pytest.mark.parametrize("name", ["frame_straddle_bytes.pkl", "frame_straddle_global.pkl",
                                  "frame_nested.pkl", "frame_past_stop.pkl"])
def test_the_c_stream_view_names_the_hidden_import(cases: dict[str, Case], name: str) -> None:
    """pickletools never sees os.system in these: only the replayed C reader does."""
    report = scan_file(cases[name].path)
    hidden = [r for r in report.reasons if r.code == "global-malicious"]
    assert hidden and all("C stream view" in r.where for r in hidden)
    assert "os.system" in report.globals


def test_protocol_2_renames_are_judged_by_what_loads() -> None:
    assert classify_import("__builtin__", "reduce", 2)[0] is ModelVerdict.MALICIOUS
    assert classify_import("__builtin__", "reduce", 2)[2] == ("functools", "reduce")
    assert classify_import("__builtin__", "reduce", 4)[0] is ModelVerdict.SUSPICIOUS
    assert classify_import("thread", "start_new_thread", 0)[0] is ModelVerdict.MALICIOUS
    assert classify_import("copy_reg", "_reconstructor", 2)[0] is ModelVerdict.SAFE


def test_a_torch_checkpoint_with_a_straddled_frame_is_malicious(tmp_path: Path) -> None:
    """torch.load reads data.pkl through a BytesIO: the C stream view is what it runs."""
    import torch

    path = tmp_path / "ckpt.pt"
    torch.save({"w": torch.ones(2)}, path)
    hidden = evasion.payload(f"touch {tmp_path / 'CANARY'}")
    _replace_member(path, "data.pkl", evasion.straddle_bytes(hidden))
    report = scan_file(path)
    assert (report.format, report.verdict) == ("torch-zip", ModelVerdict.MALICIOUS)
    assert "os.system" in report.globals


def _replace_member(path: Path, suffix: str, data: bytes) -> None:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    with zipfile.ZipFile(path, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, data if name.endswith(suffix) else body)


def test_a_joblib_array_inside_a_frame_is_malicious(tmp_path: Path) -> None:
    """joblib reads array bytes from after the frame; a frame stretched over them hides ops."""
    import joblib
    import numpy as np

    path = tmp_path / "a.joblib"
    joblib.dump({"a": np.arange(8, dtype=np.uint8)}, path)
    assert scan_file(path).verdict is ModelVerdict.SAFE
    data = bytearray(path.read_bytes())
    assert data[2:3] == b"\x95"
    (length,) = struct.unpack("<Q", data[3:11])
    data[3:11] = struct.pack("<Q", length + 4)  # the frame now covers the first array bytes
    path.write_bytes(bytes(data))
    codes = {r.code for r in scan_file(path).reasons}
    assert scan_file(path).verdict is ModelVerdict.MALICIOUS and "frame-straddle" in codes


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_hidden_payloads_are_live(cases: dict[str, Case], name: str) -> None:
    """The loader of each case (in a child process) does run what the scan reports."""
    case = cases[name]
    if not case.live:
        pytest.skip("not a live payload")
    canary = case.path.parent / "CANARY"
    canary.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-c", corpus.LOAD_SNIPPET[case.loader], str(case.path)],
                   capture_output=True, timeout=60, check=False)
    assert canary.exists(), f"{name}: the payload did not run under {case.loader}"


def test_picklescan_misses_what_cpmap_flags(cases: dict[str, Case]) -> None:
    """The frame and argument tricks get past picklescan's genops-based view; never cpmap's."""
    scanner = pytest.importorskip("picklescan.scanner")
    missed = [n for n, c in cases.items() if c.expected == "malicious"
              and not scanner.scan_file_path(str(c.path)).infected_files]
    assert "frame_straddle_bytes.pkl" in missed
    assert all(scan_file(cases[n].path).verdict is ModelVerdict.MALICIOUS for n in missed)


# -- the decoder against the C unpickler ---------------------------------------------------
_NUMBER_TEXT = st.text(alphabet="0123456789xXoObBabcdefL+-_ .\x00\tinfINFnaN", max_size=12)


@given(_NUMBER_TEXT, st.sampled_from([b"I", b"L", b"F"]))
@settings(max_examples=400, deadline=None)
def test_numbers_are_read_as_the_c_unpickler_reads_them(text: str, op: bytes) -> None:
    """Differential: these pickles hold one number and STOP, nothing that imports or calls."""
    data = op + text.encode("latin-1") + b"\n."
    try:
        expected = pickle.loads(data)  # noqa: S301 - a lone number opcode, built here
    except Exception:  # noqa: BLE001 - the C unpickler refuses it: nothing to compare
        return
    (first, _stop) = list(Decoder(io.BytesIO(data), lambda *a: None).ops())
    value = first[1]
    assert value == expected or (value != value and expected != expected)  # NaN is NaN


@given(st.recursive(st.none() | st.integers() | st.text(max_size=30) | st.binary(max_size=300),
                    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(
                        st.text(max_size=5), kids, max_size=5), max_leaves=30),
       st.integers(min_value=-12, max_value=12), st.sampled_from([4, 5]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_safe_verdict_means_both_readers_agree(value: object, delta: int, proto: int) -> None:
    """Stretch or shrink the first frame: if the scan still says safe, the C stream reader
    decodes exactly the opcodes pickletools does."""
    data = bytearray(pickle.dumps(value, protocol=proto))
    if data[2:3] == b"\x95":
        (length,) = struct.unpack("<Q", data[3:11])
        data[3:11] = struct.pack("<Q", max(0, length + delta))
    seq, c_view = _ops(bytes(data), False), _ops(bytes(data), True)
    col = Collector()
    Scanner(col).scan_all(io.BytesIO(bytes(data)))
    if col.verdict() is ModelVerdict.SAFE:
        assert seq == c_view


def _ops(data: bytes, c_stream: bool) -> list[tuple[str, object]] | str:
    raw = io.BytesIO(data)
    fh = CStreamView(raw) if c_stream else raw
    try:
        ops = Decoder(fh, lambda *a: None, c_stream).ops()  # type: ignore[arg-type]
        return [(name, arg) for name, arg, _pos, _end in ops]
    except Malformed as e:
        return f"malformed: {e}"


# -- sniffing pickles that have no magic number ----------------------------------------------
@pytest.mark.parametrize("proto", [0, 1])
def test_directory_scans_find_protocol_0_and_1_pickles_of_any_name(tmp_path: Path,
                                                                   proto: int) -> None:
    for name in ("model.dill", "weights.txt", "noext"):
        (tmp_path / name).write_bytes(pickle.dumps({"w": [1.5, 2.5], "n": "x" * 10},
                                                   protocol=proto))
    big = pickle.dumps(list(range(40_000)), protocol=proto)  # longer than the sniff window
    (tmp_path / "big.data").write_bytes(big)
    (tmp_path / "README.md").write_text("# a model\n\nTrained (see below).\n")
    (tmp_path / "blob.raw").write_bytes(bytes(range(256)) * 4)
    scan = scan_tree(tmp_path)
    assert sorted(Path(r.path).name for r in scan.reports) == [
        "big.data", "model.dill", "noext", "weights.txt"]
    assert all(r.verdict is ModelVerdict.SAFE for r in scan.reports)
    other = {Path(u.path).name: u.reason for u in scan.unclassified}
    assert other == {"README.md": "text, no model format",
                     "blob.raw": "binary, no model format cpmap recognises (not scanned)"}


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_text_is_not_taken_for_a_pickle(text: str) -> None:
    data = text.encode()
    if looks_like_pickle(data, True):
        # the rare text that really is a pickle: the C unpickler must accept it as one
        assert data.rstrip(b"\n").endswith(b".")


@pytest.mark.parametrize("value", [{"a": [1, 2.5, "x"]}, [None, True, b"\x00"], "text", 3.5])
@pytest.mark.parametrize("proto", [0, 1, 2])
def test_real_pickles_are_sniffed(value: object, proto: int) -> None:
    data = pickle.dumps(value, protocol=proto)
    assert looks_like_pickle(data, True)
    assert not looks_like_pickle(data[:-1], True)  # no STOP: not a whole pickle


def test_a_pickle_longer_than_the_sniff_window_is_sniffed_from_its_start() -> None:
    data = pickle.dumps(list(range(30_000)), protocol=0)
    assert len(data) > 65536
    assert looks_like_pickle(data[:65536], False)
    assert not looks_like_pickle(b"(lp0\n", False)  # too few opcodes to tell


def test_a_compressed_straddled_pickle_is_decompressed_again_for_the_c_view(
        tmp_path: Path) -> None:
    import gzip

    hidden = evasion.payload(f"touch {tmp_path / 'CANARY'}")
    path = tmp_path / "model.pkl.gz"
    path.write_bytes(gzip.compress(evasion.straddle_bytes(hidden)))
    report = scan_file(path)
    assert (report.format, report.verdict) == ("gzip+pickle", ModelVerdict.MALICIOUS)
    assert "os.system" in report.globals
