#!/usr/bin/env python3
"""Stand-in for ExecuTorch's `executor_runner`, for pushing to tests/adb_double.py (which runs it
with the test's Python, as for tests/fake_benchmark_model.py).

It runs the .pte for real with the executorch Python runtime (the same C++ runtime, through its
pybindings) on inputs of ones, and prints what the real binary prints, from
pytorch/executorch v1.4.1 `examples/portable/executor_runner/executor_runner.cpp`; the numbers
after `executor_runner.cpp:` are that file's lines:
  340 "Resetting threadpool with num threads = %d"      473 "Failed to parse model file %s"
  476 "Model file %s is loaded."                         486 "Using method %s"
  624 "Model loaded in %f ms."
  779 "Iteration %u of %u: %f ms" (v1.3.0 and later)     789 "Model executed successfully %u time(s) in %f ms."
  798 "%zu outputs: "                                    253 "Failed to open ETDump file at %s."
  261 "ETDump written to file '%s'."                     870 ET_CHECK "Failed to save ETDump file."
  773 ET_CHECK "Execution of method %s failed with status 0x%x"
The log line is runtime/platform/default/posix.cpp's et_pal_emit_log_message ("%c %02u:%02u:%02u.%06lu
executorch:%s:%zu] %s", to stderr); a failed ET_CHECK is runtime/platform/assert.h's ET_CHECK_MSG:
an F line "In function main(), assert failed (COND): MESSAGE", then abort() (SIGABRT). Flags are
gflags': an unknown one is "ERROR: unknown command line flag 'x'" and exit 1; --help lists the
flags on stdout and exits 1.

The runtime's own log lines (program.cpp's reason for a file it cannot parse, cpuinfo's probes) are
kept off stderr: the pybindings print them in a form of their own, so only the runner's lines
appear, and "Setting up CPU planned buffer" (556), whose sizes the Python MethodMeta does not
give, is left out.

Its ETDump is real: the Python runtime's own (`load_program(..., enable_etdump=True)` and
`write_etdump_result_to_file`), the same ETDumpGen the binary links, holding every execution.

What the build can do is in the constants below; a test makes another build by rewriting one of
those lines in a copy (a different binary, with its own sha256).
"""
from __future__ import annotations

import os
import re
import sys
import time

EVENT_TRACER = True        # -DEXECUTORCH_ENABLE_EVENT_TRACER=ON: --etdump_path exists, every run writes one
PER_ITERATION = True       # v1.3.0 and later print each execution's time
FAIL_EXECUTION = 0         # an Error code that method->execute() returns on the first execution (0: none)
POSIX_PAL = True           # -DEXECUTORCH_PAL_DEFAULT=posix; False: the android presets' PAL, which logs to logcat
PERFORMANT_CORES = 4       # what cpuinfo's get_num_performant_cores() says for --cpu_threads=-1

FLAGS = {  # name: (parser, default, help), as DEFINE_* in executor_runner.cpp
    "model_path": (str, "model.pte", "Model serialized in flatbuffer format."),
    "data_path": (str, "", "Path to data file (.ptd)."),
    "inputs": (str, "", "Comma-separated list of input files"),
    "output_file": (str, "", "Base name of output file. If not empty output will be written to the file(s)."),
    "num_executions": (int, 1, "Number of times to run the model."),
    "method_name": (str, "", "Name of the method to run. If empty, uses the first method in the program."),
    "cpu_threads": (int, -1, "Number of CPU threads for inference. Defaults to -1, which implies we'll use a "
                             "heuristic to derive the # of performant cores for a specific device."),
}
if EVENT_TRACER:
    FLAGS["etdump_path"] = (str, "model.etdump", "Write ETDump data to this path.")
_TYPES = {str: "string", int: "int32"}
START = [time.monotonic()]   # et_pal_init: reset once the runtime is imported, where main() starts in the binary


class Abort(Exception):
    """An ET_CHECK that failed: its F line is printed, then the process aborts."""


def log(level: str, line: int, message: str, source: str = "executor_runner.cpp") -> None:
    if not POSIX_PAL:   # runtime/platform/default/android.cpp: __android_log_print, nothing on the shell
        return
    us = int((time.monotonic() - START[0]) * 1e6)
    s, us = divmod(us, 1_000_000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    print(f"{level} {h:02d}:{m:02d}:{s:02d}.{us:06d} executorch:{source}:{line}] {message}", file=sys.stderr,
          flush=True)


def check(ok: bool, line: int, cond: str, message: str) -> None:
    if not ok:
        log("F", line, f"In function main(), assert failed ({cond}): {message}")
        raise Abort


def parse_flags(argv: list[str]) -> dict:
    values = {k: v[1] for k, v in FLAGS.items()}
    for arg in argv:
        if arg in ("--help", "-help"):
            print("executor_runner: Warning: SetUsageMessage() never called\n\n"
                  "  Flags from examples/portable/executor_runner/executor_runner.cpp:")
            for name, (kind, default, text) in FLAGS.items():
                shown = f'"{default}"' if kind is str else default
                print(f"    -{name} ({text}) type: {_TYPES[kind]} default: {shown}")
            raise SystemExit(1)
        m = re.fullmatch(r"--?(\w+)(?:=(.*))?", arg)
        if not m or m.group(1) not in FLAGS:
            print(f"ERROR: unknown command line flag '{m.group(1) if m else arg}'", file=sys.stderr, flush=True)
            raise SystemExit(1)
        name, text = m.groups()
        try:
            values[name] = FLAGS[name][0](text or "")
        except ValueError:
            print(f"ERROR: illegal value '{text}' specified for {_TYPES[FLAGS[name][0]]} flag '{name}'",
                  file=sys.stderr, flush=True)
            raise SystemExit(1)
    return values


class quiet:
    """fd 2 to /dev/null: the interpreter's and the runtime's own chatter (torchao's warnings,
    cpuinfo's probes, the pybindings' log) stays off stderr, where the binary prints its log."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)


def runtime():
    with quiet():
        import torch
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime

        return torch, portable_lib, Runtime.get()


def write_etdump(program, path: str) -> None:
    try:
        with open(path, "ab"):
            pass
    except OSError:
        log("E", 253, f"Failed to open ETDump file at {path}.")
        check(False, 870, "status == Error::Ok", "Failed to save ETDump file.")
    debug = f"{path}.debug"
    program.write_etdump_result_to_file(path, debug)
    if os.path.exists(debug):
        os.remove(debug)
    log("I", 261, f"ETDump written to file '{path}'.")


def main(argv: list[str]) -> int:
    flags = parse_flags(argv)
    torch, portable_lib, et = runtime()
    START[0] = time.monotonic()
    threads = flags["cpu_threads"] if flags["cpu_threads"] != -1 else PERFORMANT_CORES
    log("I", 340, f"Resetting threadpool with num threads = {threads}")
    if threads > 0:
        with quiet():
            portable_lib._unsafe_reset_threadpool(threads)
    path = flags["model_path"]
    if not os.path.isfile(path):
        log("E", 110, f"Failed to open {path}: No such file or directory (2)", "file_data_loader.cpp")
        check(False, 461, "file_loader.ok()", "FileDataLoader::from() failed: 0x22")
    t0 = time.perf_counter()
    try:
        with quiet():
            program = et.load_program(path, enable_etdump=EVENT_TRACER, debug_buffer_size=0)
    except (RuntimeError, ValueError):
        log("E", 473, f"Failed to parse model file {path}")
        return 1
    log("I", 476, f"Model file {path} is loaded.")
    method_name = flags["method_name"] or "forward"
    log("I", 486, f"Using method {method_name}")
    meta = program.metadata(method_name)
    with quiet():
        method = program.load_method(method_name)
    log("I", 624, f"Model loaded in {(time.perf_counter() - t0) * 1e3:f} ms.")
    inputs = [torch.ones(tuple(meta.input_tensor_meta(i).sizes())) for i in range(meta.num_inputs())]
    n, spent, outputs = flags["num_executions"], 0.0, []
    for i in range(n):
        t0 = time.perf_counter()
        outputs = method.execute(inputs)
        elapsed = time.perf_counter() - t0
        spent += elapsed
        check(not FAIL_EXECUTION, 773, "status == Error::Ok",
              f"Execution of method {method_name} failed with status 0x{FAIL_EXECUTION:x}")
        if PER_ITERATION:
            log("I", 779, f"Iteration {i + 1} of {n}: {elapsed * 1e3:f} ms")
    log("I", 789, f"Model executed successfully {n} time(s) in {spent * 1e3:f} ms.")
    log("I", 798, f"{len(outputs)} outputs: ")
    for i, y in enumerate(outputs):   # extension/evalue_util/print_evalue.cpp's form, edge items elided
        values = y.flatten().tolist()
        shown = values if len(values) <= 200 else values[:100] + ["..."] + values[-100:]
        print(f"OutputX {i}: tensor(sizes={list(y.shape)}, [{', '.join(map(str, shown))}])", flush=True)
    if EVENT_TRACER:
        write_etdump(program, flags["etdump_path"])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Abort:
        os.abort()
