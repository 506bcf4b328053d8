"""Instructions retired inside the runtime's invoke: a cost that does not drift with the host.

Two counters, the first that works:
- "hardware": the CPU's own counter through perf_event_open (user-space instructions), read
  around each invoke. Many VMs expose no PMU (this one: ENOENT); the reason is recorded.
- "simulated": valgrind's callgrind, collecting only inside the invoke (--collect-atstart=no,
  --toggle-collect=<symbol>) and dumping after each invoke, so the first (warm-up) invokes are
  dropped and the rest must agree. The whole process cannot be counted: its start-up varies by
  more than one invoke costs (runtime-notes). The symbol is the function valgrind sees doing the
  work: LiteRtRunCompiledModel is a 32-byte stub that jumps into
  LiteRtRunCompiledModelWithOptions, and a toggle on the stub flips twice (entering it, then the
  function it jumps to), collecting nothing.

Either way the counting process (measure/count_worker.py) imports numpy and the runtime, never
torch. valgrind's simulated CPU has no AVX-512, and XNNPACK picks its kernels by the CPU it finds:
simulated counts compare variants with each other, not with what another CPU runs.
"""
from __future__ import annotations

import ctypes
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from ..core.errors import UserError

INVOKES, WARMUP = 5, 2
# runtime -> the function valgrind sees for one invoke
INVOKE_SYMBOLS = {"litert": "LiteRtRunCompiledModelWithOptions"}
UNSUPPORTED = {
    "onnxruntime": "its Python binding is stripped, so valgrind cannot find the function one run goes through",
    "executorch": "its binding (_C.so) is stripped and exports no Method::execute, so valgrind cannot find the "
                  "function one run goes through",
    "torch": "an eager forward runs through thousands of Python-level calls, no one native function",
}
SIMULATED_NOTE = ("valgrind's simulated CPU (no AVX-512): the runtime may pick other kernels than on the real "
                  "CPU; compare variants with each other, not CPUs")
_SYSCALL = {"x86_64": 298, "aarch64": 241}
_PERF_TYPE_HARDWARE, _PERF_COUNT_HW_INSTRUCTIONS = 0, 1
_DISABLED, _EXCLUDE_KERNEL, _EXCLUDE_HV = 1 << 0, 1 << 5, 1 << 6
IOC_ENABLE, IOC_DISABLE, IOC_RESET = 0x2400, 0x2401, 0x2403


class _PerfEventAttr(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("config", ctypes.c_uint64),
                ("sample_period", ctypes.c_uint64), ("sample_type", ctypes.c_uint64),
                ("read_format", ctypes.c_uint64), ("flags", ctypes.c_uint64), ("wakeup_events", ctypes.c_uint32),
                ("bp_type", ctypes.c_uint32), ("config1", ctypes.c_uint64), ("config2", ctypes.c_uint64)]


def open_counter() -> tuple[int | None, str | None]:
    """A disabled user-space instruction counter of this thread: (fd, None), or (None, why not)."""
    number = _SYSCALL.get(platform.machine())
    if number is None:
        return None, f"perf_event_open: no syscall number known for {platform.machine()}"
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _PerfEventAttr(type=_PERF_TYPE_HARDWARE, size=ctypes.sizeof(_PerfEventAttr),
                          config=_PERF_COUNT_HW_INSTRUCTIONS, flags=_DISABLED | _EXCLUDE_KERNEL | _EXCLUDE_HV)
    fd = libc.syscall(number, ctypes.byref(attr), 0, -1, -1, 0)
    if fd >= 0:
        return fd, None
    errno = ctypes.get_errno()
    paranoid = Path("/proc/sys/kernel/perf_event_paranoid")
    level = paranoid.read_text().strip() if paranoid.exists() else "unknown"
    why = {2: "no hardware counter (ENOENT: the kernel exposes no PMU here, common in VMs)",
           13: "not permitted (EACCES)", 1: "not permitted (EPERM)", 38: "not implemented by this kernel (ENOSYS)",
           95: "not supported (EOPNOTSUPP)"}.get(errno, os.strerror(errno))
    return None, f"perf_event_open: {why}; perf_event_paranoid is {level}"


def count_with(fd: int, invoke: Callable[[], None]) -> int:
    """The instructions of one invoke on an open counter (plus the few of the ioctl's return)."""
    libc = ctypes.CDLL(None)
    libc.ioctl(fd, IOC_RESET, 0)
    libc.ioctl(fd, IOC_ENABLE, 0)
    invoke()
    libc.ioctl(fd, IOC_DISABLE, 0)
    return int.from_bytes(os.read(fd, 8), "little")


def check_runtime(runtime: str) -> str:
    if runtime not in INVOKE_SYMBOLS:
        raise UserError(f"--metric instructions is not supported for runtime {runtime}: {UNSUPPORTED.get(runtime, '')}; "
                        f"supported: {', '.join(INVOKE_SYMBOLS)}")
    return INVOKE_SYMBOLS[runtime]


def _valgrind(reason: str) -> str:
    path = shutil.which("valgrind")
    if path is None:
        raise UserError(f"--metric instructions: no hardware counter here ({reason}) and valgrind is not installed; "
                        "install it (Debian/Ubuntu: apt-get install valgrind)")
    return path


def _dumps(folder: Path) -> list[int]:
    """The instruction count of each dump callgrind wrote (one per invoke), in order."""
    parts = sorted(((int(p.suffix[1:]), p) for p in folder.glob("cg.out.*") if p.suffix[1:].isdigit()))
    counts = []
    for _, p in parts:
        m = re.search(r"^(?:summary|totals):\s*(\d+)", p.read_text(errors="replace"), re.M)
        counts.append(int(m.group(1)) if m else 0)
    return counts


def _summary(counts: list[int], counter: str, region: str, tool: str, hardware: str | None) -> dict:
    counted = counts[WARMUP:]
    doc = {"per_invoke": int(statistics.median(counted)), "counter": counter, "tool": tool, "region": region,
           "invokes": len(counted), "warmup_invokes": WARMUP, "spread": max(counted) - min(counted),
           "counts": counted}
    if counter == "simulated":
        doc.update(note=SIMULATED_NOTE, hardware_counter=hardware)
    return doc


def count(jobs: list, run_child: Callable[..., dict]) -> list[dict]:
    """`instructions` of each job. run_child(module, request, prefix=argv) runs the counting
    process (pinned, as the target does) and returns the JSON it prints."""
    symbol = check_runtime(jobs[0].runtime)
    request = {"jobs": [j.to_json() for j in jobs], "invokes": INVOKES + WARMUP}
    fd, reason = open_counter()
    if fd is not None:
        os.close(fd)
        counts = run_child("mbv3bench.measure.count_worker", {**request, "counter": "hardware"})["counts"]
        return [_summary(c, "hardware", "the runtime's invoke, as called from Python", "perf_event_open", None)
                for c in counts]
    valgrind = _valgrind(reason)
    version = subprocess.run([valgrind, "--version"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="mbv3bench-callgrind-") as tmp:
        prefix = (valgrind, "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={symbol}",
                  f"--dump-after={symbol}", f"--callgrind-out-file={tmp}/cg.out")
        run_child("mbv3bench.measure.count_worker", {**request, "counter": "simulated"}, prefix=prefix)
        counts = _dumps(Path(tmp))
    per_job = INVOKES + WARMUP
    if len(counts) != per_job * len(jobs) or not all(counts):
        raise UserError(f"callgrind counted {len(counts)} invoke(s) ({sum(1 for c in counts if not c)} empty) for "
                        f"{per_job * len(jobs)} calls of {symbol}: this runtime's invoke does not run through it")
    return [_summary(counts[i * per_job:(i + 1) * per_job], "simulated", symbol, f"callgrind ({version})", reason)
            for i in range(len(jobs))]
