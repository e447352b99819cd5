"""Which imports a pickle may name: an allowlist of safe constructors and a list of known
code-execution primitives.

The decision is allowlist-first: a global is ``safe`` only if it is a known data constructor
(numpy arrays and dtypes, torch tensor rebuilds and module classes, collections, datetime,
scikit-learn estimators...). Known code-execution primitives (:mod:`.gadgets`, each with its
reason) are ``malicious``. Everything else is ``suspicious``: denylists have public bypasses, so
an unknown import is never waved through.
"""

from __future__ import annotations

import functools
import re

from cpmap.supplychain.modelfiles.allowlist import SAFE_EXACT, safe_pattern
from cpmap.supplychain.modelfiles.gadgets import gadget_for
from cpmap.supplychain.modelfiles.report import ModelVerdict

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

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
    if "." not in name and safe_pattern(module, name):
        return ModelVerdict.SAFE, f"{qual} is a known data constructor"
    if not _IDENT.match(head) or not all(_IDENT.match(p or "?") for p in module.split(".")):
        return ModelVerdict.SUSPICIOUS, f"{module!r} {name!r} is not a valid import name"
    if "." in name:
        return ModelVerdict.SUSPICIOUS, f"{qual}: attribute chain {name!r} is not allowlisted"
    if module == "__main__":
        return ModelVerdict.SUSPICIOUS, f"{qual} needs the saving script's own code"
    return ModelVerdict.SUSPICIOUS, f"{qual} is not on the allowlist of safe constructors"


@functools.lru_cache(maxsize=8192)
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


__all__ = ["NESTED_LOADERS", "SAFE_EXACT", "TRUSTED_NESTED", "classify", "classify_import"]
