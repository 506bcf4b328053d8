"""One process of a measurement, pinned to one core: `python -m mbv3bench.measure.worker < request.json`.

The request: {"jobs": [Job, ...], "mode": "time" | "profile", "seed": N, "max_secs": S}. It pins
itself before importing any runtime, so every thread a runtime starts inherits the mask.

"time" loads every job's model side by side and measures them in rounds (measure/rounds.py),
streaming one JSON line per round ({"round", "t", "order", "samples": [[ms, ...] per job]}) so the
parent can show progress and decide when to stop; then {"done": rounds, "cpu_share": S}, S the
share of its cores' time the process got during the rounds (below 1: other processes ran on the
measured core, and every number of this process includes their interference). Lines are written
between rounds, and batched, so the parent wakes rarely. "profile" runs each job's profiled
session and prints {"profile": index, "ops", "profiled_run_ms"} per job: a separate process after
the timed ones, so the profiler never touches a timed number.
"""
from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from typing import NoReturn, TextIO

from ..core.errors import one_line
from ..core.results import Job

FLUSH_S = 0.25


def _model(job: Job):
    if job.format == "torch":
        from ..zoo.build import build
        return build(job.variant)
    return job.artifact


def _time(jobs: list[Job], runtimes: list, seed: int, max_secs: float, out) -> None:
    from ..runtimes.inputs import input_array
    from .protocol import Protocol
    from .rounds import run_rounds, warm_up

    protocol = Protocol(**jobs[0].protocol)
    invokes = []
    for job, runtime in zip(jobs, runtimes):
        session = runtime.load(_model(job), job.threads)
        runtime.bind_input(session, input_array(job.input_shape))
        invokes.append(functools.partial(runtime.run, session))
    started = time.perf_counter()
    warm_up(invokes, runs=protocol.warmup_runs, secs=protocol.warmup_secs, block_runs=protocol.block_runs,
            max_secs=max_secs, seed=seed)
    flushed = time.perf_counter()

    def emit(index: int, t: float, order: list[int], samples: list[list[float]]) -> None:
        nonlocal flushed
        out.write(json.dumps({"round": index, "t": t, "order": order, "samples": samples}) + "\n")
        if time.perf_counter() - flushed >= FLUSH_S:
            out.flush()
            flushed = time.perf_counter()

    cpu, wall = time.process_time(), time.perf_counter()
    rounds = run_rounds(invokes, block_runs=protocol.block_runs, min_rounds=math.ceil(protocol.runs / protocol.block_runs),
                        min_secs=protocol.min_secs, max_secs=max(0.0, max_secs - (wall - started)),
                        seed=seed, on_round=emit)
    share = (time.process_time() - cpu) / ((time.perf_counter() - wall) * jobs[0].threads)
    out.write(json.dumps({"done": rounds, "cpu_share": round(share, 3)}) + "\n")


def _profile(jobs: list[Job], runtimes: list, out) -> None:
    from ..runtimes.inputs import input_array

    for index, (job, runtime) in enumerate(zip(jobs, runtimes)):
        profile = runtime.profile(_model(job), job.threads, input_array(job.input_shape),
                                  job.protocol["profile_runs"])
        out.write(json.dumps({"profile": index, "ops": [o.row() for o in profile.ops],
                              "profiled_run_ms": profile.run_ms}) + "\n")
        out.flush()


def start() -> tuple[dict, list[Job], TextIO]:
    """A child's start: the request from stdin, and the process pinned to the jobs' core before any
    runtime loads. The JSON lines go to the returned private copy of stdout; anything a library
    prints goes to stderr."""
    request = json.loads(sys.stdin.read())
    jobs = [Job.from_json(j) for j in request["jobs"]]
    if jobs[0].core is not None:
        os.sched_setaffinity(0, {jobs[0].core})
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return request, jobs, out


def fail(e: Exception) -> NoReturn:
    """One line for the parent, which turns it into the measurement's error."""
    print(one_line(e, typed=True), file=sys.stderr)
    sys.exit(3)


def main() -> None:
    request, jobs, out = start()
    try:
        from ..runtimes import get_runtime

        runtimes = [get_runtime(job.runtime, **job.options) for job in jobs]
        if request["mode"] == "profile":
            _profile(jobs, runtimes, out)
        else:
            _time(jobs, runtimes, request.get("seed", 0), request.get("max_secs", math.inf), out)
    except Exception as e:
        fail(e)
    out.flush()


if __name__ == "__main__":
    main()
