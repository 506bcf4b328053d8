import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def cli():
    """Runs the mbv3bench CLI in-process; returns (exit code, stdout, stderr)."""
    from click.testing import CliRunner

    from mbv3bench.cli import main

    def run(*args):
        result = CliRunner().invoke(main, list(args))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return run
