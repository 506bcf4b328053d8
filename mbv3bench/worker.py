"""One measurement, in a fresh process pinned to one core: `python -m mbv3bench.worker < job.json`.

It pins itself before importing any runtime, so every thread a runtime starts inherits the mask.
stdout carries one JSON document: the timed samples and the per-op profile. Profiled runs happen
after the timed ones, in a separate session, so the profiler never touches the headline number.
"""
from __future__ import annotations

import json
import os
import statistics
import sys


def _measure(job: dict) -> dict:
    from .artifacts import input_array
    from .measure import Protocol, time_runs
    from .runtimes import get_runtime

    runtime = get_runtime(job["runtime"], **job["options"])
    if job["format"] == "torch":
        from .build import build
        artifact = build(job["variant"])
    else:
        artifact = job["artifact"]
    x = input_array(job["input_shape"])
    protocol = Protocol(**job["protocol"])
    session = runtime.load(artifact, job["threads"])
    runtime.bind_input(session, x)
    samples = time_runs(lambda: runtime.run(session), protocol)
    del session
    result = {"samples_ms": samples, "ops": []}
    if job["per_layer"] and protocol.profile_runs:
        profile = runtime.profile(artifact, job["threads"], x, protocol.profile_runs)
        result.update(profiled(profile, statistics.median(samples)))
    return result


def profiled(profile, e2e_ms: float) -> dict:
    """Per-op times in the unprofiled run's terms. The profiler slows what it watches (2-40%,
    most where ops are small), so each op keeps its share of the profiled run, applied to the
    unprofiled median; time spent outside any op stays a visible gap."""
    scale = e2e_ms / profile.run_ms
    return {"ops": [[o.layer, o.node, o.op, o.ms * scale] for o in profile.ops],
            "profiler": {"profiled_run_ms": profile.run_ms, "scale": scale}}


def main() -> None:
    job = json.loads(sys.stdin.read())
    if job.get("core") is not None:
        os.sched_setaffinity(0, {job["core"]})
    try:
        result = _measure(job)
    except Exception as e:  # the parent turns this into one line and keeps the grid going
        print(f"{type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        sys.exit(3)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
