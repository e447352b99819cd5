"""skops files: a zip whose ``schema.json`` names every type and function to rebuild.

skops refuses untrusted types unless told to trust them; here each ``__module__.__class__``
reference is judged by the same allowlist as pickle imports, so ``skops.io.load(..., trusted=...)``
can be given exactly the types this scan called safe.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from cpmap.supplychain.modelfiles.policy import classify
from cpmap.supplychain.modelfiles.report import Collector, ModelVerdict

MAX_SCHEMA = 64 << 20


def _refs(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__module__" in item and "__class__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_schema(data: bytes, col: Collector, where: str) -> None:
    try:
        schema = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        col.add(ModelVerdict.SUSPICIOUS, "bad-skops", f"schema.json is not valid JSON: {e}"[:200],
                where)
        return
    for ref in _refs(schema):
        module, name = ref["__module__"], ref["__class__"]
        if not isinstance(module, str) or not isinstance(name, str):
            col.add(ModelVerdict.SUSPICIOUS, "bad-skops", "type reference is not a string", where)
            continue
        verdict, why = classify(module, name)
        col.note_global(f"{module}.{name}")
        if verdict is not ModelVerdict.SAFE:
            col.add(verdict, f"global-{verdict.value}", why, where)
        if ref.get("__loader__") == "MethodNode":
            col.add(ModelVerdict.SUSPICIOUS, "skops-method",
                    f"bound method reference on {module}.{name}", where)
