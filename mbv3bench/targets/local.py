"""The local device: measurements in fresh Python processes pinned to one core.

Fresh processes because one runtime's latency can settle at different levels in different
processes (runtime-notes: torch eager, ~2x): a measurement must not inherit another's state, and
several processes show how much that level varies.
"""
from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..core.errors import UserError
from ..core.results import Job, OpRow, RawMeasurement
from ..measure.adaptive import RoundSink
from ..measure.pinned import WORKER_TIMEOUT_S, run_pinned, stream_pinned
from .base import DeviceTarget

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


class LocalTarget(DeviceTarget):
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

    def time_unit(self, jobs: list[Job], *, seed: int, max_secs: float, sink: RoundSink) -> None:
        def take(line: dict) -> None:
            if "cpu_share" in line:
                sink.take_cpu_share(line["cpu_share"])
            if "round" in line:
                sink.take_round(line["samples"])

        self._run_process(jobs, mode="time", seed=seed, max_secs=max_secs, on_line=take)

    def profile(self, jobs: list[Job]) -> list[tuple[list[OpRow], float | None]]:
        found: list[tuple[list[OpRow], float | None]] = [([], None)] * len(jobs)

        def take(line: dict) -> None:
            found[line["profile"]] = ([OpRow.from_row(o) for o in line["ops"]], line["profiled_run_ms"])

        self._run_process(jobs, mode="profile", on_line=take)
        return found

    def _run_process(self, jobs: list[Job], *, mode: str, on_line: Callable[[dict], None], seed: int = 0,
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
