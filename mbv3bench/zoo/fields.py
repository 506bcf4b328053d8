"""The readers every section of a model spec uses (a field of a type, from a set, a nonlinearity),
with the one-line SpecError naming the field's path; what each kind of number in a spec may be;
and BlockDef, what both the fixed block table and a search space's stages produce. Split from
spec.py so space.py reads YAML the same way."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.errors import UserError, shown
from ..core.fields import Field, check_keys as _check_keys

NONLINEARITIES = {"RE": "relu", "RE6": "relu6", "HS": "hswish", "-": None}

# What each kind of number in a spec may be: the published networks use a fraction of each range,
# and the bounds keep what a spec makes (layers, tensors, plans) the size of a network.
RES_RANGE = (32, 2048)      # pixels; beyond 2048 nothing about a MobileNet is being measured
MAX_BLOCKS = 100            # bottlenecks of a network, a space's block slots included (OFA: 21)
RESOLUTION = Field(int, *RES_RANGE)
CHANNELS = Field(int, 1, 4096)
KERNEL = Field(int, 1, 15, odd=True)
STRIDE = Field(int, 1, 4)
REPEATS = Field(int, 1, 16)
RATIO = Field(float, 1, 16)                  # an expansion ratio over a block's input channels
CLASSES = Field(int, 1, 100_000)
FRACTION = Field(float, 0, 1)
_PLAIN = {kind: Field(kind) for kind in (int, float, str, bool, list, dict)}


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
    """d[key] as `kind` declares it (a Field, or a type with its plain bounds); an empty or missing
    field is `default`, or an error when there is none."""
    value = d.get(key)
    if value is None:
        if default is ...:
            fail(path, f"missing field '{key}'")
        return default
    field = kind if isinstance(kind, Field) else _PLAIN.get(kind) or Field(kind)
    if allowed is not None:
        field = replace(field, allowed=tuple(allowed))
    value = field.check(value, f"{path}.{key}", SpecError)
    return float(value) if field.kind is float else value


def check_keys(d, allowed: set[str], path: str) -> None:
    _check_keys(d, allowed, path, SpecError)


def nonlinearity(value, path: str) -> str | None:
    if not isinstance(value, str) or value not in NONLINEARITIES:
        fail(path, f"nonlinearity {shown(value)} is not allowed; allowed: {', '.join(NONLINEARITIES)}")
    return NONLINEARITIES[value]


def yes_no(value, path: str) -> bool:
    se = {True: True, False: False, "yes": True, "no": False}.get(value) if isinstance(value, (bool, str)) else None
    if se is None:
        fail(path, f"expected yes or no, got {shown(value)}")
    return se


def table(d: dict, allowed: tuple[str, ...], path: str, most: int) -> tuple[list[str], list[tuple[str, dict]]]:
    """A `columns:` / `rows:` table: its columns, and each row as {column: value} with the path
    that names it in an error. At most `most` rows."""
    columns = take(d, "columns", Field(list, longest=len(allowed), items=Field(str, allowed=allowed)), path)
    if len(set(columns)) != len(columns):
        fail(f"{path}.columns", "a column is named twice")
    rows = take(d, "rows", Field(list, longest=most, says=f"a list of at most {most} rows"), path)
    out = []
    for i, row in enumerate(rows, 1):
        rpath = f"{path}.rows[{i}]"
        if not isinstance(row, list) or len(row) != len(columns):
            fail(rpath, f"expected a list of {len(columns)} values ({', '.join(columns)}), got {shown(row)}")
        out.append((rpath, dict(zip(columns, row))))
    return columns, out
