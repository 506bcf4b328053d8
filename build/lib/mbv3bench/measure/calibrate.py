"""The roofline's two peaks, measured on the pinned core rather than taken from a datasheet:
single-core float32 GEMM throughput (GMAC/s) and memory bandwidth (GB/s).

They run in a fresh process pinned like mbv3bench/worker.py, with BLAS held to one thread before
numpy loads, so the peak is the one core's the measurements ran on. Results are stored per device
and reused until asked to recalibrate. `python -m mbv3bench.report.calibrate < job.json` is the
child's entry point.
"""
from __future__ import annotations

import json
import os
import sys
import time

KINDS = {"gemm": "GMAC/s", "membw": "GB/s"}
GEMM_N = 512
MEM_BYTES = 64 << 20    # per array: well past any last-level cache, so this is DRAM bandwidth
CHILD_TIMEOUT_S = 120


def _best(fn, budget_s: float, min_reps: int) -> tuple[float, int]:
    """Fastest of repeated calls (seconds): the least disturbed run is the one nearest the peak."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), len(times)


def _measure(budget_s: float) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32) for _ in range(2))
    c = np.empty_like(a)
    t, reps = _best(lambda: np.matmul(a, b, out=c), 0.4 * budget_s, 3)
    gemm = {"value": GEMM_N ** 3 / t / 1e9,
            "detail": {"op": f"float32 matmul {GEMM_N}x{GEMM_N}x{GEMM_N}", "best_s": t, "reps": reps}}
    n = MEM_BYTES // 4
    x, y, z = np.ones(n, np.float32), np.ones(n, np.float32), np.empty(n, np.float32)
    t, reps = _best(lambda: np.add(x, y, out=z), 0.6 * budget_s, 2)
    membw = {"value": 3 * MEM_BYTES / t / 1e9,
             "detail": {"op": "z = x + y, float32", "bytes_per_array": MEM_BYTES,
                        "bytes_counted": "2 arrays read + 1 written", "best_s": t, "reps": reps}}
    return {"gemm": gemm, "membw": membw}


def measure_peaks(core: int, budget_s: float = 5.0) -> dict:
    """Runs the child pinned to core; returns {"gemm": {value, detail}, "membw": {value, detail}}."""
    from .pinned import run_pinned

    return run_pinned("mbv3bench.measure.calibrate", {"core": core, "budget_s": budget_s}, threads=1,
                      what=f"calibration on core {core}", timeout=CHILD_TIMEOUT_S)


def peaks(store, device: str, core: int | None, *, recalibrate: bool = False, budget_s: float = 5.0) -> dict | None:
    """{"gemm": GMAC/s, "membw": GB/s} of a device: stored ones, or measured now on the local
    device's `core`. None for a device this machine cannot calibrate (a phone) and has no values for."""
    stored = {k: store.calibration(device, k) for k in KINDS}
    if all(stored.values()) and not recalibrate:
        return {k: r["value"] for k, r in stored.items()}
    if device != "local" or core is None:
        return None
    measured = measure_peaks(core, budget_s)
    for kind, unit in KINDS.items():
        if store.readonly:   # a command that only reads measures the peaks but leaves the store as it was
            break
        store.add_calibration(device, kind, measured[kind]["value"], unit,
                              {**measured[kind]["detail"], "core": core, "budget_s": budget_s})
    return {k: measured[k]["value"] for k in KINDS}


def main() -> None:
    job = json.loads(sys.stdin.read())
    os.sched_setaffinity(0, {job["core"]})  # before numpy loads, so every BLAS thread inherits the mask
    json.dump(_measure(job["budget_s"]), sys.stdout)


if __name__ == "__main__":
    main()
