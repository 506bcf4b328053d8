"""The one exception type the CLI turns into a one-line message (and a non-zero exit), and the
helpers that keep a message one line whatever text it quotes."""


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


def shown(value, limit: int = 60) -> str:
    """`value` quoted (repr) for a message, cut short: a user's 10,000-character value must not become the message."""
    return cut(repr(value), limit)


def cut(text: str, limit: int) -> str:
    """`text` cut short, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
