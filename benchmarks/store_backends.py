"""How fast each results store backend is: N results (default 10,000) written one transaction
each, as `run` stores them (a result with its samples and layers), then the paper's Table 3 read
back from them, as `table --paper-table 3` does. SQLite: a new file in a temporary folder.
PostgreSQL: --url, or a throwaway server on 127.0.0.1 started from the machine's binaries
(tests/pg_server.py) that syncs every commit to disk, as SQLite does here.

    .venv/bin/python benchmarks/store_backends.py [-n N] [--url postgresql://USER@HOST/DB]
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEVICES = ["local", "ci-runner-1", "ci-runner-2", "pixel4", "pixel7"]


def results(n: int):
    """N results of Table 3's networks in turn on DEVICES (a team's store: the same cells measured
    again and again, on several machines): 50 samples each, a row per layer, from their cost."""
    from mbv3bench.core.results import LayerTime, Latency, Result
    from mbv3bench.report.tables import TABLES
    from mbv3bench.zoo.arch import resolve
    from mbv3bench.zoo.cost import summary

    variants = TABLES[3].variants
    costs = {v: summary(resolve(v)) for v in variants}
    for i in range(n):
        v, device = variants[i % len(variants)], DEVICES[(i // len(variants)) % len(DEVICES)]
        layers = [LayerTime(x["name"], x["op"], 0.02 * x["madds"] / 1e6 + 0.001) for x in costs[v]["layers"]]
        ms = 1.05 * sum(x.ms for x in layers) * (1 + 0.001 * (i % 7))
        yield Result(variant=v, runtime="litert", format="tflite", device=device, threads=1, core=1,
                     latency=Latency(ms, ms, 0.01 * ms, 0.98 * ms, 1.02 * ms, (0.99 * ms, 1.01 * ms), 0.97 * ms,
                                     1.05 * ms), n=50, per_layer=layers, per_layer_sum_ms=sum(x.ms for x in layers),
                     madds=costs[v]["madds"], params=costs[v]["params"], settings={"threads": 1},
                     samples_ms=[ms] * 50)


def measure(db: str, n: int) -> dict:
    from mbv3bench.report.accuracy import load_accuracy, load_paper_latency
    from mbv3bench.report.tables import build
    from mbv3bench.store import Store, measurement_key

    made = list(results(n))
    with Store(db) as store:
        run = store.start_run({})
        t0 = time.perf_counter()
        for r in made:
            store.add_measurement(run, measurement_key(r.variant, "sha", r.runtime, r.device, r.settings), r)
        write = time.perf_counter() - t0
    t0 = time.perf_counter()
    with Store(db, readonly=True) as store:
        doc = build(3, store, ["local"], "litert", load_accuracy(), load_paper_latency(), "median")
    read = time.perf_counter() - t0
    return {"write_s": write, "read_table3_s": read, "rows": len(doc["rows"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--url", help="A PostgreSQL database to write into (default: a throwaway server)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = args.url
        if url is None:
            sys.path.insert(0, str(REPO / "tests"))
            from pg_server import pg_server

            url = stack.enter_context(pg_server(durable=True)).new_database()
        for name, db in (("sqlite", str(Path(tmp) / "bench.sqlite")), ("postgresql", url)):
            got = measure(db, args.n)
            print(f"{name:10} {args.n} results written in {got['write_s']:.1f} s "
                  f"({args.n / got['write_s']:.0f}/s); Table 3 ({got['rows']} rows) read back in "
                  f"{got['read_table3_s']:.2f} s", flush=True)


if __name__ == "__main__":
    main()
