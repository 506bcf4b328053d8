"""The one exception type the CLI turns into a one-line message (and a non-zero exit), and the
helpers that keep a message one line whatever text it quotes."""
import reprlib


class UserError(Exception):
    """Bad input or an unusable environment, described in one line that names the bad thing."""


class DeviceLost(UserError):
    """The device went away: the grid stops (finished measurements stay stored) instead of failing every cell."""


def one_line(e: BaseException, limit: int = 200, *, typed: bool = False) -> str:
    """The first line of an exception's message, for quoting inside a one-line error. An empty
    message (a bare `raise ValueError()`) gives the type's name, so quoting never fails itself."""
    lines = str(e).strip().splitlines()
    name = type(e).__name__
    if not lines:
        return name
    return (f"{name}: {lines[0]}" if typed else lines[0])[:limit]


class _Brief(reprlib.Repr):
    """repr() that looks at a container's first few items only, and never asks int() for more digits
    than Python converts: what it costs is bounded whatever the value holds."""

    def __init__(self, limit: int):
        super().__init__()
        self.maxlevel, self.maxdict = 2, 4
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdeque = self.maxarray = 5
        self.maxstring = self.maxother = self.maxlong = limit

    def repr_int(self, x, level):
        if x.bit_length() > 10_000:
            return f"<an integer of {x.bit_length():,} bits>"
        return super().repr_int(x, level)


def shown(value, limit: int = 60) -> str:
    """`value` quoted (repr) for a message, cut short: a user's 10,000-character value must not become
    the message, and a nested or huge one is never written out whole just to be cut."""
    if isinstance(value, str):
        return cut(repr(value), limit)
    text = _Brief(limit).repr(value)   # already abbreviated: its length says nothing of the value's
    return text if len(text) <= limit else f"{text[:limit]}..."


def cut(text: str, limit: int) -> str:
    """`text` cut short, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
