"""The local device: each measurement in a fresh Python process pinned to one core.

Fresh processes because one runtime's latency can settle at different levels in different
processes (runtime-notes: torch eager, ~2x): a measurement must not inherit another's state.
"""
from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
from pathlib import Path

from ..core.errors import UserError

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


def run_pinned(module: str, job: dict, *, threads: int, what: str, timeout: float = WORKER_TIMEOUT_S) -> dict:
    """Runs `python -m module` with `job` as JSON on stdin and returns the JSON it prints; the
    child pins itself to job["core"] before importing anything that starts threads. BLAS/OpenMP
    pools are held to `threads`. A failure is one line: the child's last stderr line."""
    env = {**os.environ, **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    try:
        proc = subprocess.run([sys.executable, "-m", module], input=json.dumps(job), capture_output=True,
                              text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise MeasurementError(f"{what} timed out after {timeout:g} s") from None
    if proc.returncode < 0:
        # a signal's victim never wrote why: its last line is whatever it logged before
        raise MeasurementError(f"{what}: {_killed_by(-proc.returncode)}")
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise MeasurementError(f"{what}: {tail}")
    return json.loads(proc.stdout)


def _killed_by(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    # the kernel's OOM killer sends SIGKILL, and is what usually sends it
    return f"killed by {name}" + (" (out of memory?)" if number == signal.SIGKILL else "")


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
        """Nothing to clean up: each measurement's process is gone when it returns."""

    def measure(self, job: dict) -> dict:
        """The protocol in protocol.processes fresh processes, samples pooled; the per-layer
        profile comes from the first."""
        before = self.state()
        what = f"{job['variant']} on {job['runtime']}"
        runs = [run_pinned("mbv3bench.measure.worker", {**job, "core": self.core, "per_layer": job["per_layer"] and i == 0},
                           threads=job["threads"], what=what)
                for i in range(job["protocol"].get("processes", 1))]
        after = self.state()
        return {**runs[0], "samples_ms": [ms for r in runs for ms in r["samples_ms"]],
                "process_medians_ms": [statistics.median(r["samples_ms"]) for r in runs],
                "device_state": {"before": before, "after": after}}
