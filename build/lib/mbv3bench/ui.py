"""Terminal output shared by the commands."""
from __future__ import annotations

import sys


def console():
    from rich.console import Console

    # piped output gets the full table instead of rich's 80-column folding
    return Console(width=None if sys.stdout.isatty() else 200)
