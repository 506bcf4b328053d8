"""How much the measuring harness adds to what it measures.

In one process pinned to one core, rounds alternate between the harness (measure.rounds.run_rounds
over the runtime's run() in blocks, what `mbv3bench run` does in its worker) and a bare loop that
times each invoke of the runtime's own API with nothing else around it. Alternating rounds share
any drift of the machine. Prints each runtime's two medians and the overhead; the harness should
stay within 2% of the bare loop.

    .venv/bin/python benchmarks/harness_overhead.py [--variant V] [--rounds N] [--runs N] [--runtimes R,...]
"""
from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import time


def bare_loop(fn, args: tuple, runs: int) -> list[float]:
    """Each call of the runtime's own invoke, timed with nothing else around it."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(runs):
        t0 = clock()
        fn(*args)
        samples.append((clock() - t0) / 1e6)
    return samples


# the runtime's own invoke and its arguments, from the session the project's runtime loaded
BARE = {"litert": lambda s: (s.invoke, ()),
        "onnxruntime": lambda s: (s.session.run_with_iobinding, (s.binding,)),
        "executorch": lambda s: (s.method.execute, (s.inputs,))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="mobilenet_v3_small")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--core", type=int, default=sorted(os.sched_getaffinity(0))[-1])
    ap.add_argument("--runtimes", default=",".join(BARE), help="comma-separated, of " + ", ".join(BARE))
    args = ap.parse_args()
    os.sched_setaffinity(0, {args.core})

    from mbv3bench.zoo.arch import resolve
    from mbv3bench.export.artifacts import get_artifact
    from mbv3bench.runtimes.inputs import input_array, input_shape
    from mbv3bench.measure.rounds import run_rounds
    from mbv3bench.core.registry import format_of
    from mbv3bench.runtimes import get_runtime

    net = resolve(args.variant)
    x = input_array(input_shape(net.res))
    block = 10
    print(f"{net.variant}, core {args.core}, {args.rounds} alternating rounds of {args.runs} runs")
    for name in args.runtimes.split(","):
        runtime = get_runtime(name)
        session = runtime.load(get_artifact(net.variant, format_of(name, "fp32")).path, 1)
        runtime.bind_input(session, x)
        fn, fn_args = BARE[name](session)
        bare_loop(fn, fn_args, 50)   # warm-up
        harness, loop = [], []
        invoke = functools.partial(runtime.run, session)
        for _ in range(args.rounds):
            run_rounds([invoke], block_runs=block, min_rounds=args.runs // block, min_secs=0, max_secs=math.inf,
                       seed=0, on_round=lambda index, t, order, samples: harness.extend(samples[0]))
            loop += bare_loop(fn, fn_args, args.runs)
        h, b = statistics.median(harness), statistics.median(loop)
        print(f"{name:12s} harness median {h:.4f} ms   bare loop median {b:.4f} ms   overhead {100 * (h / b - 1):+.2f}%")


if __name__ == "__main__":
    main()
