"""The invokes whose instructions are counted: `python -m mbv3bench.measure.count_worker < request.json`.

A process of its own that imports numpy and the runtime and nothing heavier (never torch): under
valgrind every instruction of start-up is simulated, ~1 s of real time each 50. The request:
{"jobs": [Job, ...], "invokes": N, "counter": "hardware" | "simulated"}. Each job's model is
loaded and invoked N times, job after job; with "hardware" each invoke is read from the CPU's
counter and {"counts": [[...] per job]} is printed, with "simulated" callgrind counts from the
outside (measure/instructions.py) and {"invokes": N} is printed.
"""
from __future__ import annotations

import functools
import json

from .worker import fail, start


def main() -> None:
    request, jobs, out = start()
    try:
        from ..runtimes import get_runtime
        from ..runtimes.inputs import input_array
        from .instructions import count_with, open_counter

        fd = open_counter()[0] if request["counter"] == "hardware" else None
        counts = []
        for job in jobs:
            runtime = get_runtime(job.runtime, **job.options)
            session = runtime.load(job.artifact, job.threads)
            runtime.bind_input(session, input_array(job.input_shape))
            invoke = functools.partial(runtime.run, session)
            if fd is None:
                for _ in range(request["invokes"]):
                    invoke()
            else:
                counts.append([count_with(fd, invoke) for _ in range(request["invokes"])])
    except Exception as e:
        fail(e)
    json.dump({"counts": counts} if fd is not None else {"invokes": request["invokes"]}, out)
    out.flush()


if __name__ == "__main__":
    main()
