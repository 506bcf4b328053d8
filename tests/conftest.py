import os
from contextlib import contextmanager
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


@contextmanager
def environ(name: str, value: str):
    """os.environ[name] = value for a session-wide fixture (monkeypatch is per test), then as before."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield value
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@pytest.fixture(scope="session", autouse=True)
def shared_artifact_cache(tmp_path_factory):
    """One export cache for the whole test session (conversions take seconds), never the user's."""
    path = tmp_path_factory.mktemp("artifacts")
    with environ("MBV3BENCH_ARTIFACTS", str(path)):
        yield path


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


RESULTS_SCHEMA = REPO / "mbv3bench" / "data" / "schema" / "results-v1.schema.json"


def assert_results_doc(doc: dict) -> None:
    """Real output checked against the documented JSON Schema of every results document."""
    import json

    import jsonschema

    jsonschema.validate(doc, json.loads(RESULTS_SCHEMA.read_text()))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def no_user_adb_server():
    """The phone code asks an adb server first: never the user's (5037), but a port where none runs,
    unless a test starts its own there (adb_server in test_adb_server.py)."""
    with environ("ANDROID_ADB_SERVER_PORT", str(free_port())):
        yield


@pytest.fixture(scope="session")
def adb_key(tmp_path_factory):
    """Our ADB key in a session folder, never the user's."""
    path = tmp_path_factory.mktemp("adbkey") / "adbkey"
    with environ("MBV3BENCH_ADB_KEY", str(path)):
        yield path


@pytest.fixture(scope="session")
def artifact():
    """The small variant's .tflite, exported once per session (~20 s)."""
    from mbv3bench.export.artifacts import get_artifact

    return get_artifact(SMALL, "tflite")


@pytest.fixture(scope="session")
def program():
    """The small variant's .pte with its ETRecord, exported once per session (~30 s)."""
    from mbv3bench.export.artifacts import get_artifact

    return get_artifact(SMALL, "pte")


@pytest.fixture
def two_variants(artifact, monkeypatch, tmp_path):
    """A second variant served by a copy of the small one's file: a second grid cell without a second
    20 s export. Returns the copy's path."""
    import shutil
    from dataclasses import replace

    import mbv3bench.runner as runner
    from phone_helpers import OTHER

    copy = tmp_path / "other.tflite"
    shutil.copy(artifact.path, copy)
    real = runner.get_artifact
    monkeypatch.setattr(runner, "get_artifact", lambda v, fmt, **kw: replace(artifact, path=copy, variant=OTHER)
                        if str(v) == OTHER else real(v, fmt, **kw))
    return copy


@pytest.fixture(scope="session")
def pg():
    """A real PostgreSQL server on 127.0.0.1 for the session (tests/pg_server.py), stopped at the end;
    skipped, saying why, only on a machine without PostgreSQL's binaries (.ci/run installs them)."""
    from pg_server import binaries, pg_server

    if binaries() is None:
        pytest.skip("no PostgreSQL server binaries here (initdb, pg_ctl, postgres): install Debian's postgresql")
    with pg_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_db(request, tmp_path):
    """A new, empty results store of each backend: an SQLite path, or a fresh database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "r.sqlite")
    return request.getfixturevalue("pg").new_database()


def raw_sql(db: str, *statements: str, args=()) -> list[tuple]:
    """Statements run on a store behind the tool's back (as another version or another tool would),
    committed; the last one's rows."""
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as con:
            for s in statements:
                cur = con.execute(s.replace("?", "%s"), args) if args else con.execute(s)
            return cur.fetchall() if cur.description else []
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(db)) as con, con:
        for s in statements:
            cur = con.execute(s, args)
        return cur.fetchall()
