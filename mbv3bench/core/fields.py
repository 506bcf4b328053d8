"""What a field of a user's YAML file (a model spec, a device profile) may hold, declared once: its
type and, for a number its range, for text and lists their length. Every field is read through
`Field.check`, whose error is one line naming the field's path, what is allowed and (cut short)
what was there."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UserError, shown

_NAMES = {int: "an integer", float: "a number", str: "text", bool: "yes or no", list: "a list", dict: "a mapping"}
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]{1,40}")


@dataclass(frozen=True)
class Field:
    kind: type                     # int, float, str, bool, list or dict (object: anything)
    lo: float = 0                  # numbers: the range, both ends allowed (no field of a spec or a
    hi: float = 1e6                # profile is negative or needs more than a million)
    longest: int = 200             # text: characters; a list or a mapping: items
    odd: bool = False              # kernels: a window with a centre pixel
    pattern: str | None = None     # text: what all of it must match
    words: tuple[str, ...] = ()    # words taken besides the kind's values, e.g. core: last
    allowed: tuple | None = None   # the only values taken
    says: str | None = None        # what is allowed, in words, where the above do not say it well
    items: Field | None = None     # a list: what each item may hold

    def allows(self) -> str:
        if self.says:
            return self.says
        if self.allowed is not None:
            return "one of " + ", ".join(map(str, self.allowed))
        kind = _NAMES.get(self.kind, self.kind.__name__)
        if self.kind in (int, float):
            text = f"{'an odd integer' if self.odd else kind} in {_number(self.lo)}..{_number(self.hi)}"
        elif self.kind is str:
            text = f"text of at most {self.longest:,} characters"
        elif self.kind in (list, dict):
            text = f"{kind} of at most {self.longest:,} items"
        else:
            text = kind
        return " or ".join(list(self.words) + [text])

    def check(self, value, path: str, error: type[UserError] = UserError):
        """`value` if this field may hold it (as given: an int is a number too)."""
        if value in self.words:
            return value
        if self.kind is bool and value in ("yes", "no"):   # YAML 1.2 reads yes/no as strings
            value = value == "yes"
        if not self._holds(value):
            raise error(f"{path}: expected {self.allows()}, got {shown(value)}")
        if self.items is not None:
            return [self.items.check(item, f"{path}[{i}]", error) for i, item in enumerate(value, 1)]
        return value

    def _holds(self, value) -> bool:
        kind = (int, float) if self.kind is float else self.kind
        if not isinstance(value, kind) or (isinstance(value, bool) and self.kind in (int, float)):
            return False
        if self.allowed is not None:
            return value in self.allowed
        if self.kind in (int, float):
            # false for nan and the infinities; compares integers of any size exactly
            return self.lo <= value <= self.hi and (not self.odd or value % 2 == 1)
        if self.kind in (str, list, dict) and len(value) > self.longest:
            return False
        return self.kind is not str or self.pattern is None or re.fullmatch(self.pattern, value) is not None


def _number(x: float) -> str:
    return f"{int(x):,}" if x == int(x) else f"{x:g}"


def key_path(path: str, key) -> str:
    """`path.key`, the key quoted and cut short unless it is a plain word."""
    return f"{path}.{key}" if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) else f"{path}.{shown(key, 40)}"


def check_keys(d, allowed, path: str, error: type[UserError] = UserError) -> None:
    """`d` is a mapping of only the `allowed` keys."""
    if not isinstance(d, dict):
        raise error(f"{path}: expected a mapping, got {shown(d)}")
    for key in d:
        if key not in allowed:
            raise error(f"{key_path(path, key)}: unknown field; allowed: {', '.join(sorted(allowed))}")


def read_fields(d, fields: dict[str, Field], path: str, error: type[UserError] = UserError) -> dict:
    """Every field of the mapping `d`, each checked by its declaration; an empty field (`key:` with
    nothing after it) is left out, as if it were not there."""
    check_keys(d, fields, path, error)
    return {key: fields[key].check(value, f"{path}.{key}", error) for key, value in d.items() if value is not None}
