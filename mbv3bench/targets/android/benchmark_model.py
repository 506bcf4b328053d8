"""TFLite/LiteRT's benchmark_model, for litert cells: its flags, what its --help says, its log."""
from __future__ import annotations

import re
from pathlib import Path

from ...core.results import Job, OpRow
from .benchmark_log import BenchmarkLog, BenchmarkLogError, parse_benchmark_log
from .phone_binary import PhoneBinary

_VERSION = re.compile(r"\bversion\b\D{0,20}\d+\.\d+", re.I)


def version_line(help_output: str) -> str:
    """The line where the binary names its version; TFLite's builds print none, and say so."""
    for line in help_output.splitlines():
        if _VERSION.search(line) and not line.lstrip().startswith("--") and "Unconsumed" not in line:
            return line.strip()
    return "none printed (benchmark_model builds do not report a version; the sha256 identifies it)"


class BenchmarkModel(PhoneBinary):
    name = "benchmark_model"
    runtime = "litert"
    field = "benchmark_binary"
    option = "--benchmark-binary"
    how_to_get = "download TFLite's prebuilt Android benchmark_model (see README, Phones)"

    @classmethod
    def abi_hint(cls, abilist: list[str]) -> str:
        return f"use the android_{'aarch64' if abilist[0] == 'arm64-v8a' else 'arm'} build ({cls.option} PATH)"

    @property
    def csv(self) -> bool:
        """Whether it writes CSV op tables (--op_profiling_output_mode, TFLite 2.13 and later)."""
        return "op_profiling_output_mode" in self.help

    def facts(self) -> dict:
        return {"version": version_line(self.help),
                "op_profiling_output": "csv" if self.csv else "text (the binary lists no --op_profiling_output_mode)"}

    def flags(self, job: Job, model: str, profiled: bool) -> list[str]:
        p = job.protocol
        common = [f"--graph={model}", f"--num_threads={job.threads}",
                  f"--use_xnnpack={'true' if job.options.get('xnnpack', True) else 'false'}"]
        if profiled:
            return common + ["--warmup_runs=1", "--warmup_min_secs=0", f"--num_runs={p['profile_runs']}", "--min_secs=0",
                             f"--max_secs={p['max_secs']}", "--enable_op_profiling=true",
                             *(["--op_profiling_output_mode=csv"] if self.csv else [])]
        return common + [f"--warmup_runs={p['warmup_runs']}", f"--warmup_min_secs={p['warmup_secs']}",
                         f"--num_runs={p['runs']}", f"--min_secs={p['min_secs']}", f"--max_secs={p['max_secs']}"]

    def read(self, output: str, job: Job, profiled: bool) -> BenchmarkLog:
        try:
            log = parse_benchmark_log(output)
        except BenchmarkLogError as e:   # no timings, or numbers out of bounds
            raise ValueError(f"unusable output ({e})") from None
        if log.avg_us is None:
            raise ValueError("no average printed")
        return log

    def layers(self, log: BenchmarkLog, job: Job, pulled: list[Path]) -> tuple[list[OpRow], float | None]:
        from ...runtimes.tflite_layers import tflite_ops
        from .op_layers import op_rows_to_layers

        return op_rows_to_layers(log, tflite_ops(Path(job.artifact))), log.avg_us / 1000 if log.avg_us else None
