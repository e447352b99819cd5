"""Stack effects of each pickle opcode on the symbolic machine of :mod:`.pickles`.

Handlers mirror the C unpickler: MARK pushes a fresh stack (so popping below a mark is an
underflow), POP of an empty stack drops the mark, MEMOIZE stores at the memo's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cpmap.supplychain.modelfiles.opcodes import Malformed
from cpmap.supplychain.modelfiles.report import ModelVerdict
from cpmap.supplychain.modelfiles.symbols import Call, Opaque, SymDict

if TYPE_CHECKING:
    from cpmap.supplychain.modelfiles.pickles import Machine

MAX_ITEMS = 100_000  # symbolic list/dict items kept (imports are checked when they occur)

PUSH_ARG = {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING",
    "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "BINBYTES",
    "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "FLOAT", "BINFLOAT",
}


def _tuple_n(n: int) -> Callable[[Machine, Any, int | None], None]:
    def op(m: Machine, _a: Any, _p: int | None) -> None:
        if len(m.stack) < n:
            raise Malformed("stack underflow")
        items = tuple(m.stack[len(m.stack) - n:]) if n else ()
        del m.stack[len(m.stack) - n:]
        m.stack.append(items)
    return op


def _put(m: Machine, arg: Any, _p: int | None) -> None:
    if int(arg) < 0:
        raise Malformed(f"negative memo index {arg}")
    m.memo[int(arg)] = m.stack[-1]


def _memoize(m: Machine, _a: Any, _p: int | None) -> None:
    m.memo[len(m.memo)] = m.stack[-1]


def _get(m: Machine, arg: Any, _p: int | None) -> None:
    if int(arg) not in m.memo:
        raise Malformed(f"memo key {arg} was never stored")
    m.stack.append(m.memo[int(arg)])


def _mark(m: Machine, _a: Any, _p: int | None) -> None:
    m.meta.append(m.stack)
    m.stack = []


def _append(m: Machine, _a: Any, _p: int | None) -> None:
    value = m.stack.pop()
    target = m.stack[-1]
    if isinstance(target, list) and len(target) < MAX_ITEMS:
        target.append(value)


def _appends(m: Machine, _a: Any, _p: int | None) -> None:
    items = m.pop_mark()
    target = m.stack[-1]
    if isinstance(target, list) and len(target) < MAX_ITEMS:
        target.extend(items[:MAX_ITEMS])


def _setitem(m: Machine, _a: Any, _p: int | None) -> None:
    value, key = m.stack.pop(), m.stack.pop()
    target = m.stack[-1]
    if isinstance(target, SymDict) and len(target.items) < MAX_ITEMS:
        target.items.append((key, value))


def _setitems(m: Machine, _a: Any, _p: int | None) -> None:
    items = m.pop_mark()
    target = m.stack[-1]
    if isinstance(target, SymDict) and len(target.items) < MAX_ITEMS:
        target.items.extend(zip(items[::2], items[1::2], strict=False))


def _dict(m: Machine, _a: Any, _p: int | None) -> None:
    items = m.pop_mark()
    m.stack.append(SymDict(list(zip(items[::2], items[1::2], strict=False))))


def _global(m: Machine, arg: Any, pos: int | None) -> None:
    module, name = arg
    m.stack.append(m.global_(module, name, pos))


def _stack_global(m: Machine, _a: Any, pos: int | None) -> None:
    name, module = m.stack.pop(), m.stack.pop()
    m.stack.append(m.global_(module, name, pos))


def _inst(m: Machine, arg: Any, pos: int | None) -> None:
    module, name = arg
    args = tuple(m.pop_mark())
    m.stack.append(m.call(m.global_(module, name, pos), args, pos, "INST"))


def _obj(m: Machine, _a: Any, pos: int | None) -> None:
    items = m.pop_mark()
    if not items:
        raise Malformed("OBJ without a class")
    m.stack.append(m.call(items[0], tuple(items[1:]), pos, "OBJ"))


def _reduce(m: Machine, _a: Any, pos: int | None) -> None:
    args, func = m.stack.pop(), m.stack.pop()
    m.stack.append(m.call(func, args, pos, "REDUCE"))


def _newobj(m: Machine, _a: Any, pos: int | None) -> None:
    args, cls = m.stack.pop(), m.stack.pop()
    m.stack.append(m.call(cls, args, pos, "NEWOBJ"))


def _newobj_ex(m: Machine, _a: Any, pos: int | None) -> None:
    _kwargs, args, cls = m.stack.pop(), m.stack.pop(), m.stack.pop()
    m.stack.append(m.call(cls, args, pos, "NEWOBJ_EX"))


def _ext(m: Machine, arg: Any, pos: int | None) -> None:
    m.col.add(ModelVerdict.SUSPICIOUS, "extension-code",
              f"EXT opcode: extension code {arg} resolves to an import this scan cannot see",
              m.where(pos))
    m.stack.append(Opaque(f"ext {arg}"))


def _persid(m: Machine, arg: Any, _p: int | None) -> None:
    m.stack.append(Opaque(f"persistent {arg!r}"[:80]))


def _binpersid(m: Machine, _a: Any, _p: int | None) -> None:
    pid = m.stack.pop()
    m.stack.append(Call(Opaque("persistent_load"), pid))


def _push(value: Callable[[], Any]) -> Callable[[Machine, Any, int | None], None]:
    def op(m: Machine, _a: Any, _p: int | None) -> None:
        m.stack.append(value())
    return op


def _pop(m: Machine, _a: Any, _p: int | None) -> None:
    if m.stack:
        m.stack.pop()
    else:
        m.pop_mark()  # POP of an empty stack drops the top mark, like the C unpickler


def _drop_mark(m: Machine) -> None:
    m.pop_mark()


# Pop the mark *before* touching m.stack: pop_mark rebinds it to the list below the mark.
def _list(m: Machine, _a: Any, _p: int | None) -> None:
    items = m.pop_mark()
    m.stack.append(list(items))


def _tuple(m: Machine, _a: Any, _p: int | None) -> None:
    items = m.pop_mark()
    m.stack.append(tuple(items))


def _frozenset(m: Machine, _a: Any, _p: int | None) -> None:
    items = m.pop_mark()
    m.stack.append(Opaque(f"frozenset of {len(items)}"))


HANDLERS: dict[str, Callable[[Machine, Any, int | None], None]] = {
    "NONE": _push(lambda: None), "NEWTRUE": _push(lambda: True), "NEWFALSE": _push(lambda: False),
    "EMPTY_TUPLE": _push(tuple), "EMPTY_LIST": _push(list), "EMPTY_DICT": _push(SymDict),
    "EMPTY_SET": _push(lambda: Opaque("set")), "NEXT_BUFFER": _push(lambda: Opaque("buffer")),
    "MARK": _mark, "TUPLE": _tuple, "TUPLE1": _tuple_n(1), "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3), "LIST": _list, "APPEND": _append, "APPENDS": _appends,
    "DICT": _dict, "SETITEM": _setitem, "SETITEMS": _setitems,
    "ADDITEMS": lambda m, a, p: _drop_mark(m), "FROZENSET": _frozenset,
    "POP": _pop, "DUP": lambda m, a, p: m.stack.append(m.stack[-1]),
    "POP_MARK": lambda m, a, p: _drop_mark(m),
    "PUT": _put, "BINPUT": _put, "LONG_BINPUT": _put, "MEMOIZE": _memoize,
    "GET": _get, "BINGET": _get, "LONG_BINGET": _get,
    "GLOBAL": _global, "STACK_GLOBAL": _stack_global, "INST": _inst, "OBJ": _obj,
    "REDUCE": _reduce, "NEWOBJ": _newobj, "NEWOBJ_EX": _newobj_ex,
    "BUILD": lambda m, a, p: m.build(p),
    "EXT1": _ext, "EXT2": _ext, "EXT4": _ext, "PERSID": _persid, "BINPERSID": _binpersid,
    "PROTO": lambda m, a, p: m.protocol(int(a), p),
}
