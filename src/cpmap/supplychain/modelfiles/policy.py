"""Which imports a pickle may name: an allowlist of safe constructors and a list of known
code-execution primitives.

The decision is allowlist-first: a global is ``safe`` only if it is a known data constructor
(numpy arrays and dtypes, torch tensor rebuilds and module classes, collections, datetime,
scikit-learn estimators...). Known code-execution primitives (:mod:`.gadgets`, each with its
reason) are ``malicious``. Everything else is ``suspicious``: denylists have public bypasses, so
an unknown import is never waved through.
"""

from __future__ import annotations

import re

from cpmap.supplychain.modelfiles.gadgets import gadget_for
from cpmap.supplychain.modelfiles.report import ModelVerdict

_CLASS = re.compile(r"[A-Z][A-Za-z0-9_]*\Z")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

SAFE_EXACT: frozenset[tuple[str, str]] = frozenset(
    [("collections", n) for n in ("OrderedDict", "defaultdict", "deque", "Counter", "ChainMap")]
    + [(m, n) for m in ("builtins", "__builtin__") for n in (
        "set", "frozenset", "dict", "list", "tuple", "bytearray", "bytes", "complex", "int",
        "float", "str", "bool", "slice", "range", "object", "unicode", "long", "type")]
    + [(m, n) for m in ("copyreg", "copy_reg") for n in (
        "_reconstructor", "__newobj__", "__newobj_ex__")]
    + [("_codecs", "encode"), ("codecs", "encode")]
    + [("datetime", n) for n in ("datetime", "date", "time", "timedelta", "timezone")]
    + [("decimal", "Decimal"), ("fractions", "Fraction"), ("uuid", "UUID")]
    + [("pathlib", n) for n in ("PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath",
                                 "Path")]
    + [(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
       for n in ("_reconstruct", "scalar")]
    + [(m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")]
    + [("numpy", n) for n in ("ndarray", "dtype", "matrix", "bool_", "float64", "float32",
                              "int64", "int32", "uint8", "int8", "int16", "float16")]
    + [("numpy.ma.core", "_mareconstruct"), ("numpy.ma.core", "MaskedArray")]
    + [("numpy.random._pickle", n) for n in (
        "__bit_generator_ctor", "__randomstate_ctor", "__generator_ctor", "__legacy_ctor")]
    + [("torch._tensor", "_rebuild_from_type_v2"), ("torch.serialization", "_get_layout"),
       ("torch", "Size"), ("torch", "device"), ("torch", "Tensor"), ("torch", "dtype"),
       ("torch._tensor", "Tensor"), ("torch.nn.parameter", "Parameter"),
       ("torch.nn.parameter", "Buffer"), ("torch.nn.parameter", "UninitializedParameter"),
       ("torch.torch_version", "TorchVersion"), ("torch.storage", "_load_from_bytes")]
    + [("torch", n) for n in (
        "float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64", "long",
        "int32", "int", "int16", "short", "int8", "uint8", "uint16", "uint32", "uint64", "bool",
        "complex64", "complex128", "cfloat", "cdouble", "qint8", "quint8", "qint32", "quint4x2",
        "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "strided",
        "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "_mkldnn",
        "contiguous_format", "channels_last", "channels_last_3d", "preserve_format",
        "per_tensor_affine", "per_channel_affine")]
    + [("joblib.numpy_pickle", n) for n in ("NumpyArrayWrapper", "NDArrayWrapper",
                                            "ZNDArrayWrapper")]
    + [("pandas._libs.internals", "_unpickle_block"),
       ("pandas.core.indexes.base", "_new_Index"),
       ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
       ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle")]
)

# Packages whose *classes* (CapWords names, no attribute chains) are data containers.
SAFE_CLASS_PACKAGES = ("sklearn.", "torch.nn.modules.", "torch.optim.", "numpy.random.",
                       "numpy.dtypes", "pandas.core.", "pandas._libs.", "scipy.sparse.",
                       "torch.ao.quantization.", "torch.nn.utils.parametrizations")
_SPARSE = re.compile(r"(csr|csc|coo|bsr|dia|dok|lil)_(matrix|array)\Z")

# Deserializers whose bytes argument is a pickle we can scan in turn ("nested payloads").
NESTED_LOADERS: frozenset[tuple[str, str]] = frozenset({
    ("pickle", "loads"), ("_pickle", "loads"), ("cPickle", "loads"), ("dill", "loads"),
    ("cloudpickle", "loads"), ("torch.storage", "_load_from_bytes"), ("pickle", "_loads"),
    ("numpy", "loads"),
})
# Loaders torch itself emits (tensor storages pickled with pickle.dumps): safe iff the payload is.
TRUSTED_NESTED = frozenset({("torch.storage", "_load_from_bytes")})


# Attribute chains through these reach namespaces, classes' internals or code objects.
INTROSPECTION = frozenset({
    "__dict__", "__globals__", "__builtins__", "__subclasses__", "__getattribute__",
    "__getattr__", "__import__", "__class__", "__base__", "__bases__", "__mro__", "__code__",
    "__closure__", "__func__", "__self__", "__module__", "__loader__", "__spec__", "__reduce__",
    "__reduce_ex__", "__setstate__", "__wrapped__", "__kwdefaults__", "__defaults__",
})


def _numpy_ufunc(name: str) -> bool:
    """``numpy.<ufunc>`` (np.log1p in a FunctionTransformer) pickles as a bare global."""
    import numpy as np

    value = np.__dict__.get(name)  # __dict__: no module __getattr__ on attacker input
    return isinstance(value, np.ufunc)


def classify(module: str, name: str) -> tuple[ModelVerdict, str]:
    """Verdict and explanation for a pickle importing ``module.name``."""
    qual = f"{module}.{name}"
    head = name.split(".", 1)[0]
    if (module, name) in NESTED_LOADERS:
        if (module, name) in TRUSTED_NESTED:
            return ModelVerdict.SAFE, f"{qual} (nested payload scanned)"
        return (ModelVerdict.SUSPICIOUS,
                f"{qual} deserializes a nested payload; the payload is scanned in turn")
    if INTROSPECTION.intersection(name.split(".")) or INTROSPECTION.intersection(
            module.split(".")):
        return (ModelVerdict.MALICIOUS,
                f"{qual}: introspection attribute chain (namespaces, classes, code objects)")
    gadget = gadget_for(module, name)
    if gadget is not None:
        return ModelVerdict.MALICIOUS, f"{qual}: {gadget.reason} ({gadget.kind} gadget)"
    if (module, name) in SAFE_EXACT:
        return ModelVerdict.SAFE, f"{qual} is a known data constructor"
    if "." not in name and _safe_pattern(module, name):
        return ModelVerdict.SAFE, f"{qual} is a known data constructor"
    if not _IDENT.match(head) or not all(_IDENT.match(p or "?") for p in module.split(".")):
        return ModelVerdict.SUSPICIOUS, f"{module!r} {name!r} is not a valid import name"
    if "." in name:
        return ModelVerdict.SUSPICIOUS, f"{qual}: attribute chain {name!r} is not allowlisted"
    if module == "__main__":
        return ModelVerdict.SUSPICIOUS, f"{qual} needs the saving script's own code"
    return ModelVerdict.SUSPICIOUS, f"{qual} is not on the allowlist of safe constructors"


def _safe_pattern(module: str, name: str) -> bool:
    if module == "torch._utils" and name.startswith("_rebuild_"):
        return True
    if module in ("torch", "torch.storage", "torch.cuda") and name.endswith("Storage"):
        return _CLASS.match(name) is not None
    if module == "torch.nn.functional" and _IDENT.match(name) and not name.startswith("_"):
        return True
    if module.startswith("scipy.sparse") and _SPARSE.match(name):
        return True
    if module == "numpy" and _numpy_ufunc(name):
        return True
    if module.startswith(("pandas.core.", "pandas._libs.")) and name.startswith(
            ("_new_", "_unpickle")):
        return True
    if not any(module.startswith(p) or module == p.rstrip(".") for p in SAFE_CLASS_PACKAGES):
        return False
    # Cython extension types restore their state through generated __pyx_unpickle_* functions.
    return _CLASS.match(name) is not None or name.startswith("__pyx_unpickle_")


def classify_import(module: str, name: str, proto: int) -> tuple[ModelVerdict, str,
                                                                 tuple[str, str]]:
    """:func:`classify` of what a loader imports: below protocol 3 the unpicklers rename
    Python 2 imports first (``_compat_pickle``: ``__builtin__.reduce`` is
    ``functools.reduce``, ``commands`` is ``subprocess``). The worse of the two names wins,
    since ``fix_imports=False`` loads the raw one; the renamed one is returned."""
    mapped = _py2_rename(module, name) if proto < 3 else (module, name)
    verdict, why = classify(*mapped)
    if mapped != (module, name):
        raw_verdict, raw_why = classify(module, name)
        why = f"{why} ({module}.{name} is renamed to it below protocol 3)"
        if raw_verdict.rank > verdict.rank:
            verdict, why = raw_verdict, raw_why
    return verdict, why, mapped


def _py2_rename(module: str, name: str) -> tuple[str, str]:
    import _compat_pickle

    if (module, name) in _compat_pickle.NAME_MAPPING:
        new_module, new_name = _compat_pickle.NAME_MAPPING[(module, name)]
        return str(new_module), str(new_name)
    return str(_compat_pickle.IMPORT_MAPPING.get(module, module)), name
