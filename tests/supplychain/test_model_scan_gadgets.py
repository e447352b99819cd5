"""Code-execution gadgets: indirect ones (a class that spawns a process, a profiler that execs,
a config loader that evaluates, a framework guard evaluator, a file-writing logging handler, an
HTTP client, an interpreter) are ``malicious``, and the documented table matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cpmap.supplychain.modelfiles import ModelVerdict, scan_file
from cpmap.supplychain.modelfiles.gadgets import GADGETS, KINDS, gadget_for
from cpmap.supplychain.modelfiles.policy import SAFE_EXACT, classify

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cp3-supply-chain.md"

# (module, name) as a pickle names them: each runs a command or code when called or built.
INDIRECT = [
    ("subprocess", "Popen"), ("pty", "spawn"), ("platform", "_syscmd_ver"),
    ("platform", "architecture"), ("imaplib", "IMAP4_stream"), ("uuid", "_ifconfig_getnode"),
    ("uuid", "getnode"), ("pipes", "Template"), ("asyncio", "create_subprocess_shell"),
    ("cProfile", "run"), ("profile", "run"), ("timeit", "timeit"), ("timeit", "Timer"),
    ("trace", "Trace"), ("pdb", "run"), ("bdb", "Bdb"), ("torch.utils.benchmark", "Timer"),
    ("logging.config", "dictConfig"), ("logging.config", "fileConfig"),
    ("logging.config", "listen"), ("yaml", "unsafe_load"), ("hydra.utils", "instantiate"),
    ("torch._dynamo.guards", "GuardBuilder"), ("torch.fx.experimental.symbolic_shapes",
                                               "ShapeEnv"),
    ("torch.fx.graph_module", "reduce_graph_module"), ("torch", "fx.GraphModule"),
    ("torch", "ops.load_library"), ("torch._C", "_jit_pass_inline"),
    ("numpy.testing", "measure"), ("numpy", "testing.measure"),
    ("numpy.testing._private.extbuild", "build_and_import_extension"),
    ("numpy.testing._private.utils", "runstring"), ("numexpr", "evaluate"),
    ("pandas", "eval"), ("pandas.core.computation.eval", "eval"), ("sympy", "sympify"),
    ("jinja2", "Template"), ("logging", "FileHandler"), ("logging.handlers", "SocketHandler"),
    ("logging.handlers", "HTTPHandler"), ("logging.handlers", "RotatingFileHandler"),
    ("logging", "config.dictConfig"), ("http.client", "HTTPConnection"),
    ("urllib.request", "urlopen"), ("urllib3", "PoolManager"), ("requests", "get"),
    ("aiohttp", "ClientSession"), ("smtplib", "SMTP"), ("code", "InteractiveInterpreter"),
    ("code", "InteractiveConsole"), ("runpy", "run_path"), ("importlib", "import_module"),
    ("ctypes", "CDLL"), ("_posixsubprocess", "fork_exec"), ("multiprocessing", "Process"),
    ("concurrent.futures", "ProcessPoolExecutor"), ("_xxsubinterpreters", "create"),
    ("codecs", "open"), ("gzip", "open"), ("bz2", "BZ2File"), ("sqlite3", "connect"),
    ("mmap", "mmap"), ("rlcompleter", "Completer"), ("IPython.utils.process", "system"),
    ("atexit", "register"), ("pkg_resources", "load_entry_point"), ("unittest.mock", "patch"),
    ("inspect", "getattr_static"), ("transformers.dynamic_module_utils",
                                    "get_class_from_dynamic_module"),
    ("torch.distributed.rpc", "rpc_sync"), ("torch.utils.model_zoo", "load_url"),
    ("pandas", "read_pickle"), ("pandas", "read_csv"), ("joblib.parallel", "Parallel"),
    ("Cython.Build.Inline", "cython_inline"), ("sklearn.utils._testing",
                                               "assert_run_python_script_without_output"),
]


def _pickle_calling(module: str, name: str) -> bytes:
    def s(text: str) -> bytes:
        data = text.encode()
        return b"\x8c" + bytes([len(data)]) + data

    return b"\x80\x04" + s(module) + s(name) + b"\x93" + s("x") + b"\x85R."


@pytest.mark.parametrize(("module", "name"), INDIRECT)
def test_indirect_gadgets_are_malicious(tmp_path: Path, module: str, name: str) -> None:
    path = tmp_path / "g.pkl"
    path.write_bytes(_pickle_calling(module, name))
    report = scan_file(path)
    assert report.verdict is ModelVerdict.MALICIOUS, report.reasons
    assert any("gadget" in r.message for r in report.reasons)


def _sample(target: str) -> tuple[str, str]:
    module, _, name = target.partition(":")
    return module, (name.rstrip("*") + "x" if name.endswith("*") else name or "anything")


@pytest.mark.parametrize("gadget", GADGETS, ids=lambda g: g.target)
def test_every_listed_gadget_is_malicious_with_its_reason(gadget: object) -> None:
    module, name = _sample(gadget.target)  # type: ignore[attr-defined]
    verdict, why = classify(module, name)
    if (module, name) in {("pickle", "loads")}:
        return  # nested loaders are scanned in turn instead
    assert verdict is ModelVerdict.MALICIOUS
    assert gadget.kind in KINDS  # type: ignore[attr-defined]
    assert gadget.reason in why or "introspection" in why  # type: ignore[attr-defined]


def test_the_allowlist_and_the_gadgets_never_overlap() -> None:
    assert [x for x in SAFE_EXACT if gadget_for(*x)] == []


@pytest.mark.parametrize(("module", "name"), [
    ("uuid", "UUID"), ("collections", "OrderedDict"), ("codecs", "encode"),
    ("logging", "getLogger"), ("torch.nn.modules.linear", "Linear"),
    ("pandas.core.frame", "DataFrame"), ("numpy", "ndarray")])
def test_neighbours_of_gadgets_are_not_gadgets(module: str, name: str) -> None:
    assert gadget_for(module, name) is None


def test_the_docs_list_every_gadget() -> None:
    text = DOCS.read_text()
    section = text[text.index("### Code-execution gadgets"):]
    listed = set(re.findall(r"`([A-Za-z0-9_.:*]+)`", section))
    missing = [g.target for g in GADGETS if g.target not in listed]
    assert missing == []


def test_what_the_peer_scanners_deny_is_malicious_here() -> None:
    """Cross-check with picklescan's and modelscan's denylists (both optional)."""
    picklescan = pytest.importorskip("picklescan.scanner")
    settings = pytest.importorskip("modelscan.settings")
    pairs = [(m, n) for m, names in picklescan._unsafe_globals.items()
             for n in (["anything"] if names == "*" or "*" in names
                       else [names] if isinstance(names, str) else sorted(names))]
    pairs += [(m, n) for mods in settings.DEFAULT_SETTINGS["unsafe_globals"].values()
              for m, names in mods.items() for n in (["anything"] if names == "*" else names)]
    weaker = {(m, n) for m, n in pairs if classify(m, n)[0] is not ModelVerdict.MALICIOUS}
    # functools.partial only wraps a callable, which is judged itself; uuid.UUID is data.
    assert weaker <= {("functools", "partial"), ("uuid", "anything")}
    assert all(classify(m, n)[0] is ModelVerdict.SUSPICIOUS for m, n in weaker)
