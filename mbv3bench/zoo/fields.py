"""The readers every section of a model spec uses (a field of a type, from a set, a nonlinearity),
with the one-line SpecError naming the field's path; and BlockDef, what both the fixed block table
and a search space's stages produce. Split from spec.py so space.py reads YAML the same way."""
from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import UserError

NONLINEARITIES = {"RE": "relu", "RE6": "relu6", "HS": "hswish", "-": None}


class SpecError(UserError, ValueError):
    """A bad model spec or variant ID; the message is one line naming the bad part and what is allowed."""


@dataclass(frozen=True)
class BlockDef:
    """One bottleneck as the paper's table row gives it (before width and other knobs)."""
    k: int
    out: int
    s: int
    nl: str
    se: bool = False
    exp: int | None = None      # expansion channels (MobileNetV3 tables) ...
    t: float | None = None      # ... or expansion ratio over the input channels (MobileNetV2, MnasNet)


def fail(path: str, problem: str) -> None:
    raise SpecError(f"{path}: {problem}")


def take(d: dict, key: str, kind, path: str, default=..., allowed=None):
    if key not in d:
        if default is ...:
            fail(path, f"missing field '{key}'")
        return default
    value = d[key]
    if kind is bool and value in ("yes", "no"):  # YAML 1.2 reads yes/no as strings
        value = value == "yes"
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        fail(f"{path}.{key}", f"expected {kind.__name__}, got {value!r}")
    if allowed is not None and value not in allowed:
        fail(f"{path}.{key}", f"{value!r} is not allowed; allowed: {', '.join(map(str, allowed))}")
    return value


def check_keys(d, allowed: set[str], path: str) -> None:
    if not isinstance(d, dict):
        fail(path, f"expected a mapping, got {d!r}")
    for key in d:
        if key not in allowed:
            fail(f"{path}.{key}", f"unknown field; allowed: {', '.join(sorted(allowed))}")


def nonlinearity(value, path: str) -> str | None:
    if value not in NONLINEARITIES:
        fail(path, f"nonlinearity {value!r} is not allowed; allowed: {', '.join(NONLINEARITIES)}")
    return NONLINEARITIES[value]


def yes_no(value, path: str) -> bool:
    se = {True: True, False: False, "yes": True, "no": False}.get(value)
    if se is None:
        fail(path, f"expected yes or no, got {value!r}")
    return se
