"""Terminal output shared by the commands."""
from __future__ import annotations

import sys


def console(stderr: bool = False):
    """stderr: for progress displays of commands whose stdout may be a document (--json)."""
    from rich.console import Console

    # piped output gets the full table instead of rich's 80-column folding
    stream = sys.stderr if stderr else sys.stdout
    return Console(width=None if stream.isatty() else 200, stderr=stderr)
