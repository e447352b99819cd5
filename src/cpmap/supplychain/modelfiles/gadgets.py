"""Code-execution gadgets: the imports that make a pickle ``malicious``, each with its reason.

A pickle runs whatever callable it imports. Some callables are obviously dangerous
(``os.system``); many run a command or code *indirectly*: a class that spawns a process when
constructed, a profiler that executes a string, a config loader that evaluates one, a guard
evaluator or template engine that compiles code, a logging handler or HTTP client that writes
files or opens connections, a module that creates an interpreter. Every entry below is one of
these, and docs/cp3-supply-chain.md lists the same table (a test keeps the two in step).

A target is ``module`` (the module and everything under it), ``module:name`` (that attribute,
and attribute chains starting with it) or ``module:prefix*``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gadget:
    """One code-execution primitive: what it is, which kind, and why it is one."""

    target: str
    kind: str
    reason: str


KINDS = {
    "process": "starts a process or runs a shell command",
    "code": "executes Python source, bytecode or generated code",
    "import": "imports modules or resolves names at load time",
    "interpreter": "creates an interpreter, a native library or a thread/process pool",
    "config": "a loader that evaluates or instantiates what its input names",
    "guard": "an ML-framework evaluator that compiles or exec's expressions",
    "file": "creates, truncates, deletes or maps files",
    "network": "opens network connections or servers",
    "deserialize": "deserializes another payload that can run code",
    "introspection": "reaches namespaces, attributes or objects by name",
}


def _g(kind: str, reason: str, *targets: str) -> list[Gadget]:
    return [Gadget(t, kind, reason) for t in targets]


GADGETS: tuple[Gadget, ...] = tuple(
    # -- processes -------------------------------------------------------------------------
    _g("process", "runs shell commands and spawns processes", "os", "posix", "nt",
       "subprocess", "_posixsubprocess", "pty", "commands", "popen2", "pipes", "asyncio")
    + _g("process", "runs the file, ifconfig, uname and ver commands", "platform")
    + _g("process", "opens a browser, i.e. runs a program", "webbrowser")
    + _g("process", "IMAP4_stream runs a command to connect", "imaplib")
    + _g("process", "runs the commands listed in mailcap files", "mailcap")
    + _g("process", "runs ifconfig/ip/arp/netstat to find a MAC address", "uuid:_*",
         "uuid:getnode", "uuid:uuid1")
    + _g("process", "compiles or configures with the system's compiler", "_osx_support",
         "_aix_support", "distutils", "setuptools", "numpy.distutils", "numpy.f2py",
         "torch.utils.cpp_extension", "Cython", "pyximport")
    + _g("process", "installs packages (runs their build code)", "pip", "ensurepip", "venv")
    + _g("process", "spawns a process or remote shell", "pexpect", "sh", "plumbum", "invoke",
         "fabric", "paramiko")
    + _g("process", "torch.utils.collect_env.run runs shell commands",
         "torch.utils.collect_env")
    + _g("process", "runs Python scripts in subprocesses", "sklearn.utils._testing",
         "test", "torch.testing")
    # -- code ------------------------------------------------------------------------------
    + [Gadget(f"{m}:{n}", "code", "evaluates, compiles or imports what it is given")
       for m in ("builtins", "__builtin__", "__builtins__")
       for n in ("eval", "exec", "execfile", "compile", "__import__", "breakpoint", "input",
                 "help", "exit", "quit", "reload", "apply", "__build_class__", "__loader__")]
    + _g("code", "an interactive interpreter / compiler of source strings", "code", "codeop",
         "_pyrepl", "idlelib", "rlcompleter", "IPython", "ipykernel")
    + _g("code", "profilers and debuggers execute the code string they are given",
         "cProfile", "profile", "timeit", "trace", "pdb", "bdb", "torch.utils.benchmark")
    + _g("code", "doctest/pydoc run or locate code by name", "doctest", "pydoc", "lib2to3")
    + _g("code", "builds functions and code objects from bytes", "marshal",
         *(f"types:{n}" for n in ("FunctionType", "LambdaType", "CodeType", "MethodType",
                                  "ModuleType", "new_class", "prepare_class", "coroutine",
                                  "CellType", "FrameType", "TracebackType", "MappingProxyType",
                                  "DynamicClassAttribute", "BuiltinFunctionType",
                                  "BuiltinMethodType", "MethodWrapperType")))
    + _g("code", "numpy.testing runs code strings (runstring, measure) and builds C "
         "extensions (extbuild)", "numpy.testing")
    + _g("code", "templates compile to Python code that runs on render", "jinja2", "mako")
    + _g("code", "evaluates expression strings", "numexpr", "pandas.core.computation",
         "pandas:eval", "sympy:sympify", "sympy.core.sympify", "sympy:parse_expr",
         "sympy.parsing", "sympy:lambdify", "sympy.utilities.lambdify")
    + _g("code", "registers a callable to run at interpreter exit", "atexit")
    # -- import machinery ------------------------------------------------------------------
    + _g("import", "imports modules and resolves dotted names", "importlib", "imp",
         "zipimport", "pkgutil", "pkg_resources", "runpy", "site", "sys", "unittest")
    + _g("import", "mock.patch resolves and replaces any dotted name", "mock")
    + _g("introspection", "getattr-style access to any attribute",
         *(f"{m}:{n}" for m in ("builtins", "__builtin__", "__builtins__")
           for n in ("getattr", "setattr", "delattr", "globals", "locals", "vars")),
         "operator", "_operator", "inspect:getattr_static", "functools:reduce")
    # -- interpreters, threads, native code ------------------------------------------------
    + _g("interpreter", "loads native libraries and calls C functions", "ctypes", "_ctypes",
         "cffi")
    + _g("interpreter", "starts processes, threads or sub-interpreters", "multiprocessing",
         "concurrent", "_thread", "threading", "_xxsubinterpreters", "_interpreters",
         "_interpqueues", "torch.multiprocessing", "joblib.parallel", "joblib.pool",
         "joblib._parallel_backends", "joblib.externals", "joblib.executor")
    + _g("interpreter", "Python 2 names of the thread module", "thread", "dummy_thread")
    + _g("interpreter", "changes process-wide state (signals, limits, descriptors)", "signal",
         "resource", "fcntl")
    # -- config loaders --------------------------------------------------------------------
    + _g("config", "logging.config instantiates any class named in its input and can listen "
         "for new configs on a socket", "logging.config")
    + _g("config", "yaml.load and unsafe loaders construct !!python objects", "yaml",
         "ruamel.yaml")
    + _g("config", "instantiates whatever class its input names", "hydra", "jsonpickle")
    # -- ML-framework evaluators -----------------------------------------------------------
    + _g("guard", "TorchDynamo/Inductor compile and exec guard and kernel code",
         "torch._dynamo", "torch._inductor")
    + _g("guard", "torch.fx rebuilds GraphModules by exec'ing their source; symbolic shapes "
         "evaluate guard expressions", "torch.fx")
    + _g("guard", "TorchScript compiles and runs code", "torch.jit", "torch._C:_jit*")
    + _g("guard", "loads and runs packaged or exported programs", "torch.package",
         "torch.export", "torch._export")
    + _g("guard", "loads shared libraries of custom operators", "torch.ops", "torch._ops",
         "torch.library", "torch._classes", "torch.classes")
    + _g("guard", "runs functions on remote workers", "torch.distributed")
    + _g("guard", "torch utilities that profile code, load pickled configs or decode pickled "
         "data", "torch.utils.bottleneck", "torch.utils._config_module",
         "torch.utils.data.datapipes.utils.decoder")
    + _g("guard", "Keras deserializes Python lambdas from bytecode",
         "keras.src.utils.python_utils")
    + _g("guard", "trust_remote_code: imports and runs code from a model repository",
         "transformers.dynamic_module_utils", "datasets.load")
    # -- files ----------------------------------------------------------------------------
    + [Gadget(f"{m}:{n}", "file", "opens, creates or truncates a file")
       for m in ("builtins", "__builtin__", "__builtins__") for n in ("open", "file")]
    + [Gadget(f"{m}:{n}", "file", "opens, creates or truncates a file")
       for m in ("io", "_io") for n in ("open", "FileIO", "open_code", "BufferedWriter",
                                         "BufferedReader", "BufferedRandom", "TextIOWrapper")]
    + _g("file", "codecs.open and the compressed-file classes create or truncate files",
         "codecs:open", "codecs:EncodedFile", "gzip:open", "gzip:GzipFile", "bz2:open",
         "bz2:BZ2File", "lzma:open", "lzma:LZMAFile")
    + _g("file", "logging file handlers create or truncate their file when constructed",
         "logging:FileHandler", "logging.handlers")
    + _g("file", "copies, moves, deletes or archives files", "shutil", "tempfile", "zipfile",
         "tarfile", "zipapp", "mailbox", "fileinput", "compileall", "py_compile", "joblib.disk",
         "joblib.memory", "torch.utils.hipify")
    + _g("file", "opens or creates databases on disk", "shelve", "dbm", "sqlite3", "_sqlite3")
    + _g("file", "maps files into memory / writes history files", "mmap", "readline")
    + _g("file", "numpy file readers and writers",
         *(f"numpy:{n}" for n in ("load", "fromfile", "loadtxt", "genfromtxt", "memmap",
                                  "save", "savez", "savetxt", "tofile")),
         "numpy.lib.npyio:load", "numpy.ctypeslib")
    + _g("file", "torch file readers and writers (torch.load unpickles)", "torch:load",
         "torch.serialization:load", "torch:save", "torch.serialization:save",
         "torch:from_file")
    + _g("file", "TensorFlow and Keras file access and downloads", "tensorflow.io",
         "tensorflow.python.ops.io_ops", "tensorflow.python.lib.io",
         "tensorflow.python.platform.gfile", "keras.src.utils.file_utils", "keras.utils:get_file")
    # -- network --------------------------------------------------------------------------
    + _g("network", "opens connections or servers", "socket", "_socket", "ssl", "http",
         "urllib", "urllib2", "urllib3", "requests", "httpx", "aiohttp", "httplib2", "pycurl",
         "websocket", "websockets", "ftplib", "smtplib", "smtpd", "poplib", "nntplib",
         "telnetlib", "xmlrpc", "socketserver", "wsgiref", "asynchat", "asyncore")
    + _g("network", "Python 2 names of network modules (renamed to them below protocol 3)",
         "httplib", "SocketServer", "SimpleHTTPServer", "BaseHTTPServer", "CGIHTTPServer",
         "xmlrpclib", "SimpleXMLRPCServer", "DocXMLRPCServer")
    + _g("network", "downloads files (and loads them)", "torch.hub", "torch.utils.model_zoo",
         "torchvision.datasets.utils", "huggingface_hub")
    # -- other deserializers --------------------------------------------------------------
    + _g("deserialize", "unpickles another payload (dill and cloudpickle also rebuild "
         "functions from bytecode)", "pickle", "_pickle", "cPickle", "dill", "cloudpickle",
         "joblib:load", "joblib.numpy_pickle:load", "pandas:read_pickle", "pandas.io")
    + _g("deserialize", "reads any file or URL into a frame (read_pickle unpickles)",
         "pandas:read_*")
    + _g("file", "opens or creates spreadsheet and HDF5 files", "pandas:ExcelWriter",
         "pandas:ExcelFile", "pandas:HDFStore")
    + _g("file", "opens, maps or creates files and streams", *(f"pyarrow.lib:{n}" for n in (
        "OSFile", "MemoryMappedFile", "memory_map", "create_memory_map", "input_stream",
        "output_stream", "PythonFile", "NativeFile", "BufferedOutputStream",
        "CompressedOutputStream", "FixedSizeBufferWriter")), "pyarrow.fs", "pyarrow.parquet",
         "pyarrow.csv", "pyarrow.json", "pyarrow.feather", "pyarrow.orc", "pyarrow.ipc",
         "pyarrow.dataset", "pyarrow.flight")
    + _g("file", "downloads or writes data sets", "sklearn.datasets:fetch_*",
         "sklearn.datasets:dump_svmlight_file", "sklearn.datasets._svmlight_format_io",
         "sklearn.datasets._base:_fetch_remote")
    + _g("deserialize", "registers extension codes that later imports resolve through",
         "copyreg:add_extension", "copy_reg:add_extension")
    + _g("deserialize", "namedtuple builds a class by exec'ing generated source",
         "collections:namedtuple")
)


def _index() -> tuple[dict[str, Gadget], dict[tuple[str, str], Gadget],
                      list[tuple[str, str, Gadget]]]:
    modules, exact, prefixes = {}, {}, []
    for g in GADGETS:
        module, _, name = g.target.partition(":")
        if not name:
            modules[module] = g
        elif name.endswith("*"):
            prefixes.append((module, name[:-1], g))
        else:
            exact[(module, name)] = g
    return modules, exact, prefixes


_MODULES, _EXACT, _PREFIXES = _index()


def gadget_for(module: str, name: str) -> Gadget | None:
    """The gadget ``module.name`` is or reaches, if any. The dotted path is split at every
    point, since protocol 4 resolves ``("torch", "ops.load_library")`` as an attribute chain."""
    full = f"{module}.{name}".split(".")
    for i in range(len(full) - 1, 0, -1):
        mod, attr = ".".join(full[:i]), full[i]
        found = _EXACT.get((mod, attr))
        if found is not None:
            return found
        for m, prefix, g in _PREFIXES:
            if mod == m and attr.startswith(prefix):
                return g
    for i in range(len(full), 0, -1):
        owner = _MODULES.get(".".join(full[:i]))
        if owner is not None:
            return owner
    return None
