"""The one exception type the CLI turns into a one-line message (and a non-zero exit)."""


class UserError(Exception):
    """Bad input or an unusable environment, described in one line that names the bad thing."""
