"""One measurement, in a fresh process pinned to one core: `python -m mbv3bench.worker < job.json`.

It pins itself before importing any runtime, so every thread a runtime starts inherits the mask.
stdout carries one JSON document: the timed samples and the per-op profile. Profiled runs happen
after the timed ones, in a separate session, so the profiler never touches the headline number.
"""
from __future__ import annotations

import functools
import json
import os
import sys

from ..core.errors import one_line
from ..core.results import Job, RawMeasurement


def _measure(job: Job) -> RawMeasurement:
    from ..runtimes import get_runtime
    from ..runtimes.inputs import input_array
    from .protocol import Protocol, time_runs

    runtime = get_runtime(job.runtime, **job.options)
    if job.format == "torch":
        from ..zoo.build import build
        artifact = build(job.variant)
    else:
        artifact = job.artifact
    x = input_array(job.input_shape)
    protocol = Protocol(**job.protocol)
    session = runtime.load(artifact, job.threads)
    runtime.bind_input(session, x)
    samples = time_runs(functools.partial(runtime.run, session), protocol)
    del session   # the profile opens its own session: free this one's memory first
    if not (job.per_layer and protocol.profile_runs):
        return RawMeasurement(samples_ms=samples)
    profile = runtime.profile(artifact, job.threads, x, protocol.profile_runs)
    return RawMeasurement(samples_ms=samples, ops=profile.ops, profiled_run_ms=profile.run_ms)


def main() -> None:
    job = Job.from_json(json.loads(sys.stdin.read()))
    if job.core is not None:
        os.sched_setaffinity(0, {job.core})
    try:
        result = _measure(job).to_json()
    except Exception as e:  # the parent turns this into one line and keeps the grid going
        print(one_line(e, typed=True), file=sys.stderr)
        sys.exit(3)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
