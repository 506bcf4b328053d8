"""The local device: measurements in fresh Python processes pinned to one core.

Fresh processes because one runtime's latency can settle at different levels in different
processes (runtime-notes: torch eager, ~2x): a measurement must not inherit another's state, and
several processes show how much that level varies.
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..core.errors import UserError
from ..core.results import Job, RawMeasurement

# a worker that takes longer than this is stuck, not slow (the protocol caps itself at max_secs)
WORKER_TIMEOUT_S = 900


class MeasurementError(UserError):
    pass


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _cpu_model() -> str | None:
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _core_mhz(core: int) -> float | None:
    khz = _read(f"/sys/devices/system/cpu/cpu{core}/cpufreq/scaling_cur_freq")
    if khz:
        return int(khz) / 1000
    # containers often hide cpufreq; /proc/cpuinfo still reports each processor's clock
    current = None
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("processor"):
            current = int(line.split(":")[1])
        elif line.startswith("cpu MHz") and current == core:
            return float(line.split(":")[1])
    return None


def stream_pinned(module: str, request: dict, *, threads: int, what: str, on_line: Callable[[dict], None],
                  timeout: float = WORKER_TIMEOUT_S, prefix: tuple[str, ...] = ()) -> None:
    """Runs `python -m module` (behind `prefix`, e.g. valgrind) with `request` as JSON on stdin and
    hands each JSON line it prints to on_line as it comes; the child pins itself to the request's
    core before importing anything that starts threads. BLAS/OpenMP pools are held to `threads`.
    The child has a session of its own: Ctrl-C reaches only this process, which ends the child
    (what it streamed so far is the caller's). A failure is one line: the child's last stderr line."""
    env = {**os.environ, **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    proc = subprocess.Popen([*prefix, sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    tail: collections.deque[str] = collections.deque(maxlen=50)
    drain = threading.Thread(target=lambda: tail.extend(proc.stderr), daemon=True)
    drain.start()
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        proc.stdin.write(json.dumps(request))
        proc.stdin.close()
        for line in proc.stdout:
            on_line(json.loads(line))
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
        timer.join()
        drain.join()
        proc.stdout.close()
        proc.stderr.close()
    if expired.is_set():
        raise MeasurementError(f"{what} timed out after {timeout:g} s")
    if proc.returncode != 0:
        lines = [line.strip() for line in tail if line.strip()]
        raise MeasurementError(f"{what}: {lines[-1] if lines else f'exit code {proc.returncode}'}")


def run_pinned(module: str, job: dict, *, threads: int, what: str, timeout: float = WORKER_TIMEOUT_S,
               prefix: tuple[str, ...] = ()) -> dict:
    """stream_pinned for a child that prints one JSON document: that document."""
    lines: list[dict] = []
    stream_pinned(module, job, threads=threads, what=what, on_line=lines.append, timeout=timeout, prefix=prefix)
    if not lines:
        raise MeasurementError(f"{what}: the child printed nothing")
    return lines[-1]


class LocalTarget:
    kind = "local"

    def __init__(self, profile: dict, core: int | None = None):
        self.name = profile["name"]
        allowed = sorted(os.sched_getaffinity(0))
        if core is None:
            core = allowed[-1] if profile.get("core", "last") == "last" else profile["core"]
        if core not in allowed:
            raise UserError(f"--core {core} is not available here; allowed: {', '.join(map(str, allowed))}")
        self.core = core

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "model": platform.node(), "cpu_model": _cpu_model(),
                "machine": platform.machine(), "os": f"{platform.system()} {platform.release()}",
                "cores_online": os.cpu_count(), "core": self.core,
                "governor": _read(f"/sys/devices/system/cpu/cpu{self.core}/cpufreq/scaling_governor"),
                "max_mhz": (int(_read(f"/sys/devices/system/cpu/cpu{self.core}/cpufreq/cpuinfo_max_freq") or 0)
                            / 1000) or None}

    def state(self) -> dict:
        """What could distort a number, read around each measurement."""
        load = (_read("/proc/loadavg") or "").split()
        return {"core_mhz": _core_mhz(self.core), "loadavg_1m": float(load[0]) if load else None}

    def close(self) -> None:
        """Nothing to clean up: each measurement's processes are gone when it returns."""

    def memory_budget(self) -> int | None:
        """Bytes the models of one group may take: half of what the kernel says is available."""
        for line in (_read("/proc/meminfo") or "").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 // 2
        return None

    @contextlib.contextmanager
    def _elsewhere(self):
        """This process (progress display, statistics) keeps off the measured core while a worker runs."""
        mask = os.sched_getaffinity(0)
        others = mask - {self.core}
        if others:
            os.sched_setaffinity(0, others)
        try:
            yield
        finally:
            os.sched_setaffinity(0, mask)

    def run_process(self, jobs: list[Job], *, mode: str, on_line: Callable[[dict], None], seed: int = 0,
                    max_secs: float = WORKER_TIMEOUT_S) -> None:
        """One fresh pinned process over every job: timed rounds or (mode "profile") the profiled
        sessions; see measure/worker.py for the lines it streams."""
        request = {"jobs": [replace(j, core=self.core).to_json() for j in jobs], "mode": mode, "seed": seed,
                   "max_secs": max_secs}
        what = f"{', '.join(j.variant for j in jobs)} on {jobs[0].runtime}"
        with self._elsewhere():
            stream_pinned("mbv3bench.measure.worker", request, threads=jobs[0].threads, what=what, on_line=on_line)

    def count_instructions(self, jobs: list[Job]) -> list[RawMeasurement]:
        """--metric instructions: each job's instructions per invoke (measure/instructions.py)."""
        from ..measure import instructions

        jobs = [replace(j, core=self.core) for j in jobs]
        what = f"counting the instructions of {', '.join(j.variant for j in jobs)} on {jobs[0].runtime}"

        def run_child(module: str, request: dict, prefix: tuple[str, ...] = ()) -> dict:
            with self._elsewhere():
                return run_pinned(module, request, threads=jobs[0].threads, what=what, prefix=prefix)

        return [RawMeasurement(instructions=doc) for doc in instructions.count(jobs, run_child)]
