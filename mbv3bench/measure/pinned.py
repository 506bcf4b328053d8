"""A measurement in a fresh Python process pinned to one core: `python -m MODULE`, a JSON request
on stdin, JSON lines on stdout. The child pins itself before importing anything that starts threads."""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
from typing import Callable

from ..core.errors import UserError

# a worker that takes longer than this is stuck, not slow (the protocol caps itself at max_secs)
WORKER_TIMEOUT_S = 900


class MeasurementError(UserError):
    """A measurement failed; the grid records it and goes on."""


def stream_pinned(module: str, request: dict, *, threads: int, what: str, on_line: Callable[[dict], None],
                  timeout: float = WORKER_TIMEOUT_S, prefix: tuple[str, ...] = ()) -> None:
    """Runs `python -m module` (behind `prefix`, e.g. valgrind) with `request` as JSON on stdin and
    hands each JSON line it prints to on_line as it comes; the child pins itself to the request's
    core before importing anything that starts threads. BLAS/OpenMP pools are held to `threads`.
    The child has a session of its own: Ctrl-C (or SIGTERM) reaches only this process, which ends
    the child's whole process group, whatever it started too (valgrind's), on any way out (what it
    streamed so far is the caller's). A failure is one line: the child's last stderr line."""
    env = {**os.environ, **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    tail: collections.deque[str] = collections.deque(maxlen=50)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _kill(proc)

    drain = threading.Thread(target=lambda: tail.extend(proc.stderr), daemon=True)
    timer = threading.Timer(timeout, expire)
    proc = subprocess.Popen([*prefix, sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:   # nothing between the child's start and here that a signal's KeyboardInterrupt could interrupt
        drain.start()
        timer.start()
        proc.stdin.write(json.dumps(request))
        proc.stdin.close()
        for line in proc.stdout:
            on_line(json.loads(line))
        proc.wait()
    except BaseException:
        _kill(proc)
        proc.wait()
        raise
    finally:
        timer.cancel()
        if timer.is_alive():
            timer.join()
        if drain.is_alive():
            drain.join()
        proc.stdout.close()
        proc.stderr.close()
    if expired.is_set():
        raise MeasurementError(f"{what} timed out after {timeout:g} s")
    if proc.returncode < 0:
        # a signal's victim never wrote why: its last line is whatever it logged before
        raise MeasurementError(f"{what}: {_killed_by(-proc.returncode)}")
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


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL to the child's process group (its pid: it leads a session of its own). Before the
    child is reaped its pid, so the group, cannot be anyone else's."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:   # the group is gone: the child exited and left nothing behind
        pass


def _killed_by(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    # the kernel's OOM killer sends SIGKILL, and is what usually sends it
    return f"killed by {name}" + (" (out of memory?)" if number == signal.SIGKILL else "")
