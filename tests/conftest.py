from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# real output of tools nobody here wrote (see its SOURCES.md), kept as test data
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "benchmark_model"


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


@pytest.fixture(scope="session", autouse=True)
def shared_artifact_cache(tmp_path_factory):
    """One export cache for the whole test session (conversions take seconds), never the user's."""
    import os

    path = tmp_path_factory.mktemp("artifacts")
    old = os.environ.get("MBV3BENCH_ARTIFACTS")
    os.environ["MBV3BENCH_ARTIFACTS"] = str(path)
    yield path
    if old is None:
        del os.environ["MBV3BENCH_ARTIFACTS"]
    else:
        os.environ["MBV3BENCH_ARTIFACTS"] = old


SMALL = "mobilenet_v3_small:res=96,width=0.35"   # the cheapest real variant: quick to export and run
FAST = ["--runs", "5", "--min-secs", "0", "--warmup-runs", "1", "--warmup-secs", "0", "--profile-runs", "3",
        "--processes", "1", "--target-ci", "0"]


@pytest.fixture
def no_leaked_threads():
    """Every connection a test opens is closed, whichever way it ends (the ADB double serves each on a thread)."""
    import threading

    before = threading.active_count()
    yield
    assert threading.active_count() == before, [t.name for t in threading.enumerate()]


@pytest.fixture
def phone():
    """An ADB device double on 127.0.0.1, stopped after the test."""
    from adb_double import AdbDeviceDouble

    with AdbDeviceDouble() as double:
        yield double
