"""The one exception type the CLI turns into a one-line message (and a non-zero exit)."""


class UserError(Exception):
    """Bad input or an unusable environment, described in one line that names the bad thing."""


class DeviceLost(UserError):
    """The device went away: the grid stops (finished measurements stay stored) instead of failing every cell."""
