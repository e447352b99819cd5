"""Campaign plans: which attacks run, with which budgets, from TOML.

The default plan (every section enabled, budgets sized for the demo models on 2 cores) is
what ``cpmap redteam run`` uses without ``--plan``. A plan file overrides only the keys it sets;
an unknown section or key is an error naming the file, so a typo never silently disables an
attack.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cpmap.errors import InputError
from cpmap.redteam.extraction import OUTPUTS
from cpmap.redteam.fuzz_inputs import PROBES


@dataclass(frozen=True)
class Fuzzing:
    enabled: bool = True
    probes: tuple[str, ...] = PROBES
    examples: int = 20
    timeout_s: float = 5.0


@dataclass(frozen=True)
class Evasion:
    enabled: bool = True
    eps: float = 0.1  # L-inf budget, as a share of the input range
    samples: int = 50
    white_box: tuple[str, ...] = ("pgd", "apgd")
    black_box: tuple[str, ...] = ("square", "hopskipjump")
    steps: int = 20
    square_iters: int = 200  # Square: iterations (at most one query per sample each)
    hsj_iterations: int = 8  # HopSkipJump: boundary iterations
    success_threshold: float = 0.3


@dataclass(frozen=True)
class Extraction:
    enabled: bool = True
    budgets: tuple[int, ...] = (50, 200, 800)
    outputs: tuple[str, ...] = OUTPUTS
    decimals: int = 1
    fidelity_threshold: float = 0.9


@dataclass(frozen=True)
class Membership:
    enabled: bool = True
    attacks: tuple[str, ...] = ("lira", "loss")
    reference_models: int = 8
    reference: str = "target"  # target: the target's recipe (record); mlp: a fast mismatch
    max_records: int = 2000  # members up to half, non-members the rest (1000 for 0.1% FPR)
    tpr_threshold: float = 0.05  # finding when TPR at 1% FPR reaches this (chance: 0.01)


@dataclass(frozen=True)
class Inversion:
    enabled: bool = True
    steps: int = 60
    identification_threshold: float = 0.8


@dataclass(frozen=True)
class Plan:
    seed: int = 0
    fuzzing: Fuzzing = field(default_factory=Fuzzing)
    evasion: Evasion = field(default_factory=Evasion)
    extraction: Extraction = field(default_factory=Extraction)
    membership: Membership = field(default_factory=Membership)
    inversion: Inversion = field(default_factory=Inversion)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sections(self) -> tuple[str, ...]:
        return tuple(s for s in SECTIONS if getattr(self, s).enabled)


SECTIONS = ("fuzzing", "evasion", "extraction", "membership", "inversion")
# Each section draws from its own seed (plan seed + offset), so that adding or skipping one
# section leaves the others' randomness, and so their results, unchanged.
SEED_OFFSET = {name: 1000 * i for i, name in enumerate(SECTIONS)}
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("fuzzing", "probes"): PROBES,
    ("evasion", "white_box"): ("fgsm", "pgd", "apgd"),
    ("evasion", "black_box"): ("square", "hopskipjump"),
    ("extraction", "outputs"): OUTPUTS,
    ("membership", "attacks"): ("lira", "loss"),
}
_ONE_OF: dict[tuple[str, str], tuple[str, ...]] = {("membership", "reference"): ("mlp", "target")}
_MAX_INT = 2**32 - 1  # seeds and counts; larger values overflow the RNGs or exhaust memory
_MAX_BUDGET = 1_000_000  # extraction queries are materialised at once
_MAX_DECIMALS = 15  # float64 precision; more rounds nothing and yields NaN


def _coerce(where: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT:
            raise InputError(f"{where}: expected a non-negative integer up to {_MAX_INT}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or \
                not math.isfinite(value):
            raise InputError(f"{where}: expected a non-negative number (finite)")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(
                isinstance(v, type(default[0]) if default else (str, int)) for v in value):
            raise InputError(f"{where}: expected a list like {list(default)!r}")
        return tuple(value)
    raise InputError(f"{where}: unsupported value")  # pragma: no cover - plan fields are typed


def _section(source: str, name: str, current: Any, data: Any) -> Any:
    if not isinstance(data, dict):
        raise InputError(f"{source}: [{name}] must be a table")
    known = {f.name: getattr(current, f.name) for f in fields(current)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{source}: {name}.{key}"
        if key not in known:
            raise InputError(f"{where}: unknown key", hint=f"one of {', '.join(known)}")
        changes[key] = _coerce(where, known[key], value)
        one = _ONE_OF.get((name, key))
        if one and changes[key] not in one:
            raise InputError(f"{where}: {changes[key]!r} is not one of {', '.join(one)}")
        allowed = _CHOICES.get((name, key))
        if allowed and (bad := [v for v in changes[key] if v not in allowed]):
            raise InputError(f"{where}: unknown {', '.join(map(str, bad))}",
                             hint=f"one of {', '.join(allowed)}")
    return replace(current, **changes)


def from_dict(data: dict[str, Any], source: str = "plan") -> Plan:
    plan = Plan()
    for key, value in data.items():
        if key == "seed":
            plan = replace(plan, seed=_coerce(f"{source}: seed", 0, value))
        elif key in SECTIONS:
            plan = replace(plan, **{key: _section(source, key, getattr(plan, key), value)})
        else:
            raise InputError(f"{source}: unknown plan key {key!r}",
                             hint=f"seed or one of the sections {', '.join(SECTIONS)}")
    _check(plan, source)
    return plan


def _check(plan: Plan, source: str) -> None:
    if plan.fuzzing.enabled and plan.fuzzing.examples < 1:
        raise InputError(f"{source}: fuzzing.examples must be at least 1")
    if plan.fuzzing.enabled and plan.fuzzing.timeout_s <= 0:
        raise InputError(f"{source}: fuzzing.timeout_s must be positive")
    if plan.evasion.eps > 1.0:
        raise InputError(f"{source}: evasion.eps must be at most 1 (a share of the input range)")
    if plan.evasion.enabled and plan.evasion.samples < 1:
        raise InputError(f"{source}: evasion.samples must be at least 1")
    if plan.extraction.enabled and (not plan.extraction.budgets or
                                    min(plan.extraction.budgets) < 1):
        raise InputError(f"{source}: extraction.budgets must be positive integers")
    if plan.extraction.enabled and max(plan.extraction.budgets) > _MAX_BUDGET:
        raise InputError(f"{source}: extraction.budgets must be at most {_MAX_BUDGET}")
    if plan.extraction.enabled and not plan.extraction.outputs:
        raise InputError(f"{source}: extraction.outputs must name at least one output",
                         hint=f"one of {', '.join(OUTPUTS)}")
    if plan.extraction.decimals > _MAX_DECIMALS:
        raise InputError(f"{source}: extraction.decimals must be at most {_MAX_DECIMALS}")
    if plan.membership.enabled and not plan.membership.attacks:
        raise InputError(f"{source}: membership.attacks must name at least one attack",
                         hint="lira, loss, or set enabled = false")
    if plan.membership.enabled and plan.membership.reference_models < 1 and \
            "lira" in plan.membership.attacks:
        raise InputError(f"{source}: membership.reference_models must be at least 1 for lira")


def load_plan(path: Path | None) -> Plan:
    """The default plan, or the default overridden by the TOML file at ``path``."""
    if path is None:
        return Plan()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read plan: {e.strerror}") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid TOML: {e}") from e
    return from_dict(data, str(path))
