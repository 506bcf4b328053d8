"""A measurement in a fresh Python process pinned to one core: `python -m MODULE`, a JSON job on
stdin, a JSON answer on stdout. The child pins itself before importing anything that starts threads."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from ..core.errors import UserError

# a worker that takes longer than this is stuck, not slow (the protocol caps itself at max_secs)
WORKER_TIMEOUT_S = 900


class MeasurementError(UserError):
    """A measurement failed; the grid records it and goes on."""


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
