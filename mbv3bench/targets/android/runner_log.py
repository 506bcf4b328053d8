"""Parser for what ExecuTorch's `executor_runner` prints (examples/portable/executor_runner/
executor_runner.cpp in pytorch/executorch), v0.6 to v1.4 and main.

Every ET_LOG line has the posix PAL's form (runtime/platform/default/posix.cpp):
`I 00:00:00.000123 executorch:executor_runner.cpp:779] MESSAGE`, the level one of D I E F. v1.3 and
later print `Iteration 3 of 10: 1.234000 ms` for each execution; every version ends with `Model
executed successfully 10 time(s) in 12.345000 ms.` An ET_CHECK that fails logs `F ... In function
main(), assert failed (COND): MESSAGE` and aborts (SIGABRT).
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from ...core.untrusted import integer, number

MAX_LINE_CHARS = 1 << 16
MAX_MS = 1e9               # 11 days: beyond any real figure
MAX_COUNT = 2 ** 32 - 1    # --num_executions is a uint32

_LINE = re.compile(r"([DIEF]) \d++:\d\d:\d\d\.\d{6} executorch:[^\s:\]]++:\d++\] (.*)")
_NUM = r"(\d{1,12}(?:\.\d{1,12})?)"
_ITERATION = re.compile(rf"Iteration (\d{{1,10}}) of (\d{{1,10}}): {_NUM} ms")
_TOTAL = re.compile(rf"Model executed successfully (\d{{1,10}}) time\(s\) in {_NUM} ms\.")
_THREADS = re.compile(r"Resetting threadpool with num threads = (-?\d{1,10})")
_LOADED = re.compile(rf"Model loaded in {_NUM} ms\.")


class RunnerLogError(ValueError):
    """The text is not executor_runner output, or it holds a number no run can print."""


@dataclass(frozen=True)
class RunnerLog:
    iterations_ms: tuple[float, ...]   # one per execution, in order (v1.3+); empty before
    executions: int | None             # from the closing line
    total_ms: float | None
    threads: int | None                # the thread pool's size as the runner reset it; None: not said
    load_ms: float | None
    problems: tuple[str, ...]          # the E and F messages, in order
    warmup: int = 0                    # leading executions that are not timed runs

    @property
    def timed_ms(self) -> list[float]:
        return list(self.iterations_ms[self.warmup:])

    def summary_ms(self) -> dict:
        """The timed executions' figures in ms, as measure.summary_statistics takes them. Without
        per-iteration lines only the mean of every execution is known, warm-up included."""
        xs = self.timed_ms
        if not xs:
            mean = self.total_ms / self.executions if self.total_ms is not None and self.executions else None
            return {"mean": mean, "median": None, "std": None, "min": None, "max": None, "n": self.executions}
        return {"mean": statistics.fmean(xs), "median": statistics.median(xs),
                "std": statistics.pstdev(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def _ms(text: str, line: int) -> float:
    try:
        return number(text, 0.0, MAX_MS)
    except ValueError as e:
        raise RunnerLogError(f"line {line}: {e}") from None


def _count(text: str, line: int) -> int:
    try:
        return integer(text, 0, MAX_COUNT)
    except ValueError:
        raise RunnerLogError(f"line {line}: {text} is not an execution count") from None


def parse_runner_log(text: str, warmup: int = 0) -> RunnerLog:
    """The run's figures, the first `warmup` executions set apart; RunnerLogError (one line) for
    text without a single executor_runner log line, a line longer than MAX_LINE_CHARS or a
    number out of bounds."""
    iterations, problems = [], []
    executions = total = threads = load = None
    seen = False
    for n, raw in enumerate(text.splitlines(), 1):
        if len(raw) > MAX_LINE_CHARS:
            raise RunnerLogError(f"line {n}: {len(raw):,} characters, more than the {MAX_LINE_CHARS:,} a line may have")
        m = _LINE.fullmatch(raw.rstrip())
        if not m:
            continue   # the outputs it prints, gflags' own lines, the shell's
        seen = True
        level, message = m.groups()
        if level in "EF":
            problems.append(message)
        elif it := _ITERATION.fullmatch(message):
            iterations.append(_ms(it.group(3), n))
        elif t := _TOTAL.fullmatch(message):
            executions, total = _count(t.group(1), n), _ms(t.group(2), n)
        elif th := _THREADS.fullmatch(message):
            threads = int(th.group(1))
        elif lo := _LOADED.fullmatch(message):
            load = _ms(lo.group(1), n)
    if not seen:
        raise RunnerLogError("not an executor_runner log: no `executorch:` log line")
    return RunnerLog(tuple(iterations), executions, total, threads, load, tuple(problems), warmup)
