"""SIGTERM and SIGHUP stop `run` and `lut build` as Ctrl-C does: exit 130, the interrupted line,
what finished kept in the store, and no process of theirs left behind (pinned measuring workers,
export workers), whether the signal reaches the command alone or its whole process group."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import FAST, REPO, SMALL

MARK = "MBV3BENCH_TEST_MARK"
WAIT_S = 600    # a bound on waiting for a state the command must reach, never a timing
SPACES = REPO / "tests" / "fixtures" / "spaces"
# how the signal is sent: to the command only (`kill PID`, a supervisor) or to its process group
# (a closed terminal's SIGHUP, `kill -- -PGID`)
STOPS = [pytest.param(signal.SIGTERM, False, id="SIGTERM-to-the-command"),
         pytest.param(signal.SIGHUP, True, id="SIGHUP-to-its-group")]


class Command:
    """`python -m mbv3bench.cli ARGS` in a session of its own, every process it starts marked by an
    environment variable: a process that outlives it is found even after it is orphaned."""

    def __init__(self, args: list[str], tmp_path: Path, **env):
        self.token = uuid.uuid4().hex
        self.err = tmp_path / f"stderr-{self.token}"
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "mbv3bench.cli", *args], stdout=subprocess.DEVNULL,
                                         stderr=err,
                                         env={**os.environ, "PYTHONPATH": str(REPO), MARK: self.token, **env},
                                         start_new_session=True)

    def processes(self) -> dict[int, str]:
        """pid -> command line of every live process carrying the mark (zombies have no environment)."""
        found, mark = {}, f"{MARK}={self.token}".encode()
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and mark in (d / "environ").read_bytes().split(b"\0"):
                    found[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:   # gone meanwhile, or not ours to read
                continue
        return found

    def wait_until(self, condition, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not condition():
            assert self.proc.poll() is None, f"the command ended before {what}: {self.err.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"never {what}"
            time.sleep(0.05)   # polling for a state, not timing anything

    def stop(self, sig: int, group: bool) -> int:
        (os.killpg if group else os.kill)(self.proc.pid, sig)
        return self.proc.wait(WAIT_S)

    def kill(self) -> None:
        """Whatever a failed test left running: SIGKILL to each marked process."""
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait()

    def assert_nothing_left(self) -> None:
        """Every marked process gone. The spawn start method's resource tracker ends by itself once
        the command and its workers have, so it is waited for; a leaked worker never ends."""
        deadline = time.monotonic() + 60
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, left


@pytest.fixture
def command(tmp_path):
    started = []

    def start(args: list[str], **env) -> Command:
        started.append(Command(args, tmp_path, **env))
        return started[-1]

    yield start
    for c in started:
        c.kill()


def _stored(db: Path) -> list:
    from mbv3bench.store import Store

    with Store(db, readonly=True) as store:
        return store.measurements()


def _count(db: Path) -> int:
    """Measurements in a store that the command may be writing (or not have created yet)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return c.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _workers(c: Command) -> set[int]:
    return {pid for pid, cmd in c.processes().items() if "mbv3bench.measure.worker" in cmd}


@pytest.mark.parametrize("sig, group", STOPS)
def test_run_stopped_by_a_signal_keeps_its_finished_processes(command, tmp_path, artifact, sig, group):
    db = tmp_path / "r.sqlite"
    c = command(["run", "--models", SMALL, "--runtimes", "litert", "--no-per-layer", "--db", str(db),
                 "--out-dir", str(tmp_path), *FAST, "--processes", "100", "--max-secs", "3600"])
    seen: set[int] = set()

    def one_process_finished() -> bool:   # a second pinned worker: the first one's rounds are in
        seen.update(_workers(c))
        return len(seen) >= 2

    c.wait_until(one_process_finished, "measured a whole process")
    assert c.stop(sig, group) == 130
    err = c.err.read_text()
    assert "Traceback" not in err
    assert f"interrupted: 1 finished measurement(s) are in {db}; run again with --resume" in err
    (result,) = _stored(db)
    assert result.ok and result.rounds["stopped_by"] == "interrupted" and result.rounds["processes"] >= 1
    c.assert_nothing_left()


def _exporting(c: Command, cache: Path) -> bool:
    """Two export workers up, and an export under way (its log is opened as it starts)."""
    workers = [cmd for cmd in c.processes().values() if "spawn_main" in cmd]
    return len(workers) == 2 and any(cache.glob("*/*.log"))


LUT = ["lut", "build", "--space", "tiny_space", "--res", "64", "--runtime", "onnxruntime", "--runs", "3",
       "--min-secs", "0", "--warmup-runs", "1", "--warmup-secs", "0", "--processes", "1", "--retries", "0"]


@pytest.mark.parametrize("sig, group", STOPS)
def test_lut_build_stopped_while_exporting_leaves_no_export_worker(command, tmp_path, sig, group):
    cache = tmp_path / "cache"
    c = command([*LUT, "--export-jobs", "2", "-o", str(tmp_path / "t.json"), "--db", str(tmp_path / "r.sqlite")],
                MBV3BENCH_MODELS_DIR=str(SPACES), MBV3BENCH_ARTIFACTS=str(cache))
    c.wait_until(lambda: _exporting(c, cache), "exporting in two workers")
    assert c.stop(sig, group) == 130
    err = c.err.read_text()
    assert "Traceback" not in err and "interrupted: finished blocks are stored in" in err and "--resume" in err
    c.assert_nothing_left()
    assert not (tmp_path / "t.json").exists()


def test_lut_build_whose_export_worker_dies_is_one_line(command, tmp_path):
    cache = tmp_path / "cache"
    c = command([*LUT, "--export-jobs", "2", "-o", str(tmp_path / "t.json"), "--db", str(tmp_path / "r.sqlite")],
                MBV3BENCH_MODELS_DIR=str(SPACES), MBV3BENCH_ARTIFACTS=str(cache))
    c.wait_until(lambda: _exporting(c, cache), "exporting in two workers")
    victim = next(pid for pid, cmd in c.processes().items() if "spawn_main" in cmd)
    os.kill(victim, signal.SIGKILL)   # as the kernel's OOM killer would
    assert c.proc.wait(WAIT_S) == 2
    err = c.err.read_text()
    assert "Traceback" not in err and err.splitlines()[-1].startswith("error: an export process died"), err
    c.assert_nothing_left()


def test_lut_build_stopped_while_measuring_keeps_the_blocks_measured(command, tmp_path):
    db = tmp_path / "r.sqlite"
    c = command([*LUT, "--export-jobs", "1", "-o", str(tmp_path / "t.json"), "--db", str(db)],
                MBV3BENCH_MODELS_DIR=str(SPACES))
    c.wait_until(lambda: _count(db) >= 1, "measured a block")
    assert c.stop(signal.SIGTERM, False) == 130
    assert f"interrupted: finished blocks are stored in {db}; run again with --resume" in c.err.read_text()
    kept = _stored(db)
    assert kept and all(r.ok and r.variant.startswith("tiny_space:block=") for r in kept)
    c.assert_nothing_left()
