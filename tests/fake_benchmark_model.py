#!/usr/bin/env python3
"""Stand-in for TFLite/LiteRT's `benchmark_model` binary, for pushing to tests/adb_double.py.

The ADB double puts the directory of the test's Python on the device PATH, so the
`#!/usr/bin/env python3` line above runs this with the interpreter that has ai_edge_litert.
It really runs the .tflite on the host (ai_edge_litert Interpreter, random inputs from a
fixed seed) and prints the timings in benchmark_model's `INFO:` log format.

--enable_op_profiling=true takes the per-op numbers from
mbv3bench.runtimes.litert_capi.profile_summary (LiteRT's own profiler) and prints them as
benchmark_model's tab-separated tables.  mbv3bench is found via the hidden flag
--repo-root=PATH or the MBV3BENCH_REPO_ROOT environment variable (the double sets it),
because the pushed copy of this file lives in the sandbox, not in the checkout.
"""
from __future__ import annotations

import math
import os
import re
import sys
import time

# What this build can do. A test makes an older build by rewriting these lines in a copy of the file
# (a different binary, with its own sha256), as TFLite builds before 2.13 lack the output mode.
SUPPORTS_OUTPUT_MODE = True
VERSION_LINE = "INFO: LiteRT benchmark_model stand-in (mbv3bench tests), version 0.1.0"
# A phone of known speed (benchmarks/farm_scaling.py): every invoke takes this many microseconds and
# the model is not loaded; None: the model really runs here
FIXED_INVOKE_US = None

# flag -> (parser, default, label benchmark_model logs it under)
_BOOL = {"true": True, "1": True, "false": False, "0": False}
FLAGS = {  # in the order benchmark_model logs them
    "num_runs": (int, 50, "Min num runs"),
    "min_secs": (float, 1.0, "Min runs duration (seconds)"),
    "max_secs": (float, 150.0, "Max runs duration (seconds)"),
    "num_threads": (int, -1, "Num threads"),
    "warmup_runs": (int, 1, "Min warmup runs"),
    "warmup_min_secs": (float, 0.5, "Min warmup runs duration (seconds)"),
    "graph": (str, "", "Graph"),
    "enable_op_profiling": (_BOOL.__getitem__, False, "Enable op profiling"),
    "use_xnnpack": (_BOOL.__getitem__, None, "Use xnnpack"),  # None: XNNPACK as the default delegate
    "repo-root": (str, "", None),  # hidden: where mbv3bench lives
}
if SUPPORTS_OUTPUT_MODE:
    FLAGS["op_profiling_output_mode"] = (str, "stdout", "Op profiling output mode.")


def log(msg: str = "") -> None:
    print(f"INFO: {msg}", flush=True)


def fail(msg: str) -> int:
    print(f"ERROR: {msg}", file=sys.stderr, flush=True)
    return 1


def _num(x: float) -> str:
    """C++ ostream's default formatting of a double (6 significant digits)."""
    return "nan" if math.isnan(x) else f"{x:.6g}"


def parse_args(argv: list[str]) -> tuple[dict, list[str], list[str]]:
    values, given, unknown = {k: v[1] for k, v in FLAGS.items()}, [], []
    for arg in argv:
        if arg in ("--help", "--help=true"):
            given.append("help")
            continue
        m = re.fullmatch(r"--([\w-]+)=(.*)", arg)
        if not m or m.group(1) not in FLAGS:
            unknown.append(arg)
            continue
        name, text = m.groups()
        try:
            values[name] = FLAGS[name][0](text.lower() if FLAGS[name][0] is _BOOL.__getitem__ else text)
        except (KeyError, ValueError):
            raise SystemExit(fail(f"Invalid value for --{name}: '{text}'"))
        given.append(name)
    return values, given, unknown


def stat_line(us: list[int]) -> str:
    """tensorflow::Stat<int64>::OutputToStream, plus the percentiles newer versions add."""
    n = len(us)
    if n == 0:
        return "count=0"
    if min(us) == max(us):
        return f"count={n} curr={us[-1]}" + ("(all same)" if n > 1 else "")
    avg = sum(us) / n
    std = int(math.sqrt(max(0.0, sum(x * x for x in us) / n - avg * avg)))
    ranked = sorted(us)
    p5, median, p95 = (ranked[min(n - 1, int(q * n))] for q in (0.05, 0.5, 0.95))
    return (f"count={n} first={us[0]} curr={us[-1]} min={ranked[0]} max={ranked[-1]} avg={_num(avg)} "
            f"std={std} p5={p5} median={median} p95={p95}")


def timed_runs(interpreter, min_runs: int, min_secs: float, max_secs: float) -> list[int]:
    """BenchmarkModel::Run's loop: at least min_runs and min_secs, but stop after max_secs."""
    us: list[int] = []
    start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - start
        if not (len(us) < min_runs or elapsed < min_secs) or elapsed > max_secs:
            return us
        t0 = time.perf_counter_ns()
        interpreter.invoke()
        us.append((time.perf_counter_ns() - t0) // 1000)


def random_inputs(interpreter, np) -> None:
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        dtype, shape = np.dtype(detail["dtype"]), detail["shape"]
        if dtype.kind == "f":
            value = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":  # int8/uint8 quantized inputs: the whole range of the type
            info = np.iinfo(dtype)
            lo, hi = (info.min, info.max) if info.bits <= 16 else (0, 10)
            value = rng.integers(lo, hi, size=shape, endpoint=True, dtype=dtype)
        elif dtype.kind == "b":
            value = rng.integers(0, 2, size=shape).astype(bool)
        else:
            value = np.zeros(shape, dtype)
        interpreter.set_tensor(detail["index"], value)


_ROW = re.compile(r"^\s*(?P<type>.+?)\s+(?P<start>[\d.]+)\s+(?P<first>[\d.]+)\s+(?P<avg>[\d.]+)\s+(?P<pct>[-\d.na]+)%"
                  r"\s+(?P<cdf>[-\d.na]+)%\s+(?P<mem>[-\d.]+)\s+(?P<times>\d+)\s+(?P<name>\S.*)$")
_TYPE_ROW = re.compile(r"^\s*(?P<type>.+?)\s+(?P<count>\d+)\s+(?P<avg>[\d.]+)\s+(?P<pct>[-\d.na]+)%\s+(?P<cdf>[-\d.na]+)%"
                       r"\s+(?P<mem>[-\d.]+)\s+(?P<times>\d+)\s*$")


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(rf"=+\s*{title}\s*=+", line.strip()):
            out = []
            for row in lines[i + 2:]:  # skip the header line
                if not row.strip():
                    break
                out.append(row)
            return out
    return []


def csv_tables(rows: list[dict], types: list[dict]) -> str:
    """StatsCalculator's format_as_csv: ", "-separated cells; commas in a name become tabs (the node
    type keeps its own, e.g. "Fully Connected (NC, F32) GEMM")."""
    bar = "=" * 30
    ops = [f"{r['type']}, {float(r['first']):g}, {float(r['avg']):g}, {float(r['pct']):g}%, {float(r['cdf']):g}%, "
           f"{float(r['mem']):g}, {r['times']}, {r['name'].replace(',', chr(9))}" for r in rows]
    by_type = [f"{t['type']}, {t['count']}, {float(t['avg']):g}, {float(t['pct']):g}%, {float(t['cdf']):g}%, "
               f"{float(t['mem']):g}, {t['times']}" for t in types]
    return "\n".join([f"{bar} Run Order {bar}", "node type, first, avg_ms, %, cdf%, mem KB, times called, name",
                      *ops, "", f"{bar} Summary by node type {bar}",
                      "node type, count, avg_ms, avg %, cdf %, mem KB, times called", *by_type, ""])


def benchmark_model_tables(litert_text: str, csv: bool = False) -> str | None:
    """LiteRT's profile summary (space-padded, with [start]) as benchmark_model's tab tables, or as
    its CSV tables (--op_profiling_output_mode=csv)."""
    rows = [m.groupdict() for m in map(_ROW.match, _section(litert_text, "Run Order")) if m]
    types = [m.groupdict() for m in map(_TYPE_ROW.match, _section(litert_text, "Summary by node type")) if m]
    if not rows or not types:
        return None
    if csv:
        return csv_tables(rows, types)

    def f(value, width, suffix=""):
        return "\t" + f"{value}{suffix}".rjust(width + len(suffix))

    def op_rows(items):
        return [f(r["type"], 24) + f(f"{float(r['first']):.3f}", 9) + f(f"{float(r['avg']):.3f}", 9)
                + f(f"{float(r['pct']):.3f}", 7, "%") + f(f"{float(r['cdf']):.3f}", 7, "%")
                + f(f"{float(r['mem']):.3f}", 10) + f(r["times"], 9) + "\t" + r["name"] for r in items]

    header = (f("[node type]", 24) + f("[first]", 9) + f("[avg ms]", 9) + f("[%]", 8) + f("[cdf%]", 8)
              + f("[mem KB]", 10) + f("[times called]", 9) + "\t[Name]")
    by_time = sorted(rows, key=lambda r: -float(r["avg"]))
    total = sum(float(r["avg"]) for r in by_time) or 1.0
    # The cdf column of this table accumulates in its own (slowest first) order.
    top = [dict(r, cdf=str(100.0 * sum(float(x["avg"]) for x in by_time[: i + 1]) / total))
           for i, r in enumerate(by_time)]
    type_header = (f("[Node type]", 24) + f("[count]", 9) + f("[avg ms]", 10) + f("[avg %]", 11)
                   + f("[cdf %]", 11) + f("[mem KB]", 10) + f("[times called]", 10))
    type_rows = [f(t["type"], 24) + f(t["count"], 9) + f(f"{float(t['avg']):.3f}", 10)
                 + f(f"{float(t['pct']):.3f}", 10, "%") + f(f"{float(t['cdf']):.3f}", 10, "%")
                 + f(f"{float(t['mem']):.3f}", 10) + f(t["times"], 10) for t in types]
    bar = "=" * 30
    tail = [line for line in litert_text.splitlines()
            if line.startswith(("Timings (microseconds)", "Memory (bytes)")) or line.endswith("nodes observed")]
    return "\n".join([
        f"{bar} Run Order {bar}", header, *op_rows(rows), "",
        f"{bar} Top by Computation Time {bar}", header, *op_rows(top), "",
        f"Number of nodes executed: {len(rows)}",
        f"{bar} Summary by node type {bar}", type_header, *type_rows, "",
        *tail, ""])


def op_profile(graph: str, use_xnnpack: bool, runs: int, repo_root: str, csv: bool) -> str:
    root = repo_root or os.environ.get("MBV3BENCH_REPO_ROOT", "")
    if root:
        sys.path.insert(0, root)
    from mbv3bench.runtimes.litert_capi import profile_summary

    text = profile_summary(graph, kernel_mode="delegate" if use_xnnpack else "builtin", runs=max(1, runs), warmup=1)
    return benchmark_model_tables(text, csv) or text  # unknown layout: pass LiteRT's text through as is


def main(argv: list[str]) -> int:
    opts, given, unknown = parse_args(argv)
    if "help" in given:  # the flag list, as Flags::Usage prints it (to the error log, then exit 1)
        if VERSION_LINE:
            print(VERSION_LINE, flush=True)
        print("usage: benchmark_model\nFlags:", file=sys.stderr)
        for name, (_, default, label) in FLAGS.items():
            if label:
                print(f"\t--{name}={default}\toptional\t{label}", file=sys.stderr)
        return 1
    log("STARTING!")
    if unknown:
        print(f"WARNING: Unconsumed cmdline flags: {' '.join(unknown)}", flush=True)
    log("Log parameter values verbosely: [0]")
    for name in FLAGS:
        if name in given and FLAGS[name][2]:
            value = opts[name]
            shown = int(value) if isinstance(value, bool) else _num(value) if isinstance(value, float) else value
            log(f"{FLAGS[name][2]}: [{shown}]")
    graph = opts["graph"]
    if not graph:
        return fail("Please specify the name of your TF Lite input file with --graph")
    if not os.path.isfile(graph) or not os.access(graph, os.R_OK):
        fail(f"Could not open '{graph}'.")
        fail(f"Failed to mmap model {graph}")
        return fail("Benchmarking failed.")

    if FIXED_INVOKE_US is not None:
        return fixed_speed(opts, graph)
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    use_xnnpack = opts["use_xnnpack"] is not False
    threads = opts["num_threads"] if opts["num_threads"] > 0 else None
    t0 = time.perf_counter_ns()
    try:
        resolver = OpResolverType.AUTO if use_xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        interpreter = Interpreter(model_path=graph, num_threads=threads, experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        fail(f"Failed to mmap model {graph}: {e}")
        return fail("Benchmarking failed.")
    init_us = (time.perf_counter_ns() - t0) // 1000
    loaded(graph, init_us)
    random_inputs(interpreter, np)

    return report_runs(opts, graph, interpreter, init_us)


class _Sleeper:
    """An interpreter whose every invoke takes FIXED_INVOKE_US."""

    def invoke(self) -> None:
        time.sleep(FIXED_INVOKE_US / 1e6)


def loaded(graph: str, init_us: int) -> None:
    log(f"Loaded model {graph}")
    log(f"The input model file size (MB): {_num(os.path.getsize(graph) / 1e6)}")
    log(f"Initialized session in {_num(init_us / 1000)}ms.")


def fixed_speed(opts: dict, graph: str) -> int:
    loaded(graph, 0)
    return report_runs(opts, graph, _Sleeper(), 0)


def report_runs(opts: dict, graph: str, interpreter, init_us: int) -> int:
    """Warm-up, then timed runs, logged as benchmark_model logs them, then the op profile if asked."""
    use_xnnpack = opts["use_xnnpack"] is not False
    results = []
    for runs, min_secs in ((opts["warmup_runs"], opts["warmup_min_secs"]), (opts["num_runs"], opts["min_secs"])):
        log(f"Running benchmark for at least {runs} iterations and at least {_num(min_secs)} seconds "
            f"but terminate if exceeding {_num(opts['max_secs'])} seconds.")
        us = timed_runs(interpreter, runs, min_secs, opts["max_secs"])
        log(stat_line(us) + "\n")
        results.append(us)
    warmup, timed = results
    avg = lambda xs: sum(xs) / len(xs) if xs else math.nan  # noqa: E731
    log(f"Inference timings in us: Init: {init_us}, First inference: {warmup[0] if warmup else 0}, "
        f"Warmup (avg): {_num(avg(warmup))}, Inference (avg): {_num(avg(timed))}")

    if opts["enable_op_profiling"]:
        try:
            mode = opts.get("op_profiling_output_mode", "stdout")
            if mode not in ("stdout", "csv", "proto"):
                return fail(f"Output mode{mode} is not supported. Supported values are: 'stdout', 'csv' and 'proto'.")
            tables = op_profile(graph, use_xnnpack, len(timed), opts["repo-root"], mode == "csv")
        except ImportError as e:
            return fail(f"op profiling needs mbv3bench (--repo-root=PATH or MBV3BENCH_REPO_ROOT): {e}")
        log("Operator-wise Profiling Info for Regular Benchmark Runs:")
        print(tables, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
