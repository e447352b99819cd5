"""The allowlist: imports a pickle may name because they only rebuild data.

Exact names (numpy and torch reconstruction helpers, collections, datetime, time zones, pandas
and pyarrow column types...) and families: CapWords classes of data-container packages
(scikit-learn estimators, torch.nn modules and optimizers, pandas, scipy.sparse), Cython
``__pyx_unpickle_*`` restorers, numpy ufuncs, torch storage and rebuild helpers. A name that
is also a code-execution gadget (:mod:`.gadgets`) is never safe: gadgets are checked first.
"""

from __future__ import annotations

import re

_CLASS = re.compile(r"[A-Z][A-Za-z0-9_]*\Z")
_PRIVATE_CLASS = re.compile(r"_?[A-Z][A-Za-z0-9_]*\Z")
_FUNC = re.compile(r"[a-z][a-z0-9_]*\Z")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ARROW_CLASS = re.compile(r"[A-Z][A-Za-z0-9]*(Type|Array|Scalar)\Z")
_ARROW_OBJECTS = frozenset({"Schema", "Field", "Table", "RecordBatch", "ChunkedArray", "Buffer",
                            "KeyValueMetadata"})

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
    + [("argparse", "Namespace"), ("types", "SimpleNamespace")]
    # time zones (pandas tz-aware columns): loaded by name from the system's tz database
    + [("zoneinfo", "ZoneInfo"), ("zoneinfo", "ZoneInfo._unpickle"), ("pytz", "_p"),
       ("pytz", "_UTC"), ("pytz", "UTC")]
    + [("dateutil.tz.tz", n) for n in ("tzutc", "tzoffset", "tzlocal")]
    + [("numpy.ma", "MaskedArray"), ("numpy.ma", "_mareconstruct")]
    + [("pandas", "NA"), ("pandas", "NaT"), ("pandas._libs.tslibs.nattype", "__nat_unpickle")]
    # pyarrow arrays behind pandas' Arrow-backed columns (ArrowStringArray, ArrowDtype)
    + [("pyarrow.lib", n) for n in (
        "_restore_array", "py_buffer", "type_for_alias", "chunked_array", "field", "schema",
        "struct", "list_", "large_list", "list_view", "large_list_view", "map_", "dictionary",
        "timestamp", "duration", "time32", "time64", "decimal32", "decimal64", "decimal128",
        "decimal256", "binary", "large_binary", "string", "large_string", "utf8", "large_utf8",
        "binary_view", "string_view", "fixed_size_binary", "date32", "date64", "null", "bool_",
        "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
        "float32", "float64", "month_day_nano_interval", "table", "record_batch", "array",
        "_reconstruct_table", "_reconstruct_record_batch")]
    # scikit-learn's Cython trees and metrics: newObj(cls) is cls.__new__(cls)
    + [(m, "newObj") for m in ("sklearn.neighbors._kd_tree", "sklearn.neighbors._ball_tree",
                               "sklearn.metrics._dist_metrics")]
    # score functions that feature selectors keep a reference to (pure numerics)
    + [(m, n) for m in ("sklearn.feature_selection",
                        "sklearn.feature_selection._univariate_selection")
       for n in ("f_classif", "f_regression", "chi2", "r_regression", "f_oneway")]
    + [(m, n) for m in ("sklearn.feature_selection", "sklearn.feature_selection._mutual_info")
       for n in ("mutual_info_classif", "mutual_info_regression")]
    + [("scipy._lib.array_api_compat.numpy._aliases", "asarray")]
)

# Packages whose *classes* (CapWords names, no attribute chains) are data containers.
SAFE_CLASS_PACKAGES = ("sklearn.", "torch.nn.modules.", "torch.optim.", "numpy.random.",
                       "numpy.dtypes", "pandas.core.", "pandas._libs.", "scipy.sparse.",
                       "torch.ao.quantization.", "torch.ao.nn.", "torch.nn.utils.parametrizations",
                       "scipy.interpolate.")
_SPARSE = re.compile(r"(csr|csc|coo|bsr|dia|dok|lil)_(matrix|array)\Z")


def _numpy_ufunc(name: str) -> bool:
    """``numpy.<ufunc>`` (np.log1p in a FunctionTransformer) pickles as a bare global."""
    import numpy as np

    value = np.__dict__.get(name)  # __dict__: no module __getattr__ on attacker input
    return isinstance(value, np.ufunc)


def safe_pattern(module: str, name: str) -> bool:
    """Whether ``module.name`` (no attribute chain) matches a safe family of constructors."""
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
    if module in ("pandas", "pandas.arrays") and _CLASS.match(name):
        return True  # pandas >= 3 pickles DataFrame, Index, arrays and dtypes by these names
    if module == "pyarrow.lib" and (_ARROW_CLASS.match(name) or name in _ARROW_OBJECTS):
        return True
    if module.startswith("sklearn."):
        if module.startswith("sklearn.metrics.") and _FUNC.match(name):
            return True  # metric functions kept by scorers (make_scorer, GridSearchCV)
        if _PRIVATE_CLASS.match(name):
            return True  # estimators' private helpers: _BinMapper, _CFNode, _Scorer...
    if not any(module.startswith(p) or module == p.rstrip(".") for p in SAFE_CLASS_PACKAGES):
        return False
    # Cython extension types restore their state through generated __pyx_unpickle_* functions.
    return _CLASS.match(name) is not None or name.startswith("__pyx_unpickle_")
