"""The timing protocol, and the pooled-sample statistics of one cell timed alone.

benchmark_model's semantics: warm up until both --warmup-runs and --warmup-secs are met, then time
runs until both --runs and --min-secs are met (never past --max-secs). Each sample is one call of
the runtime's run(), timed with perf_counter_ns and nothing else inside the timed region.

`run` measures in rounds (measure/rounds.py, statistics in measure/blockstats.py); `statistics`
here is the pooled method that came before: it stays for a result known only by samples and for
benchmarks/stability.py, which measures how much narrower than honest its interval is.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

from ..core.errors import UserError
from ..core.registry import PROTOCOL, STATISTICS

# A run is "noisy" past these; the thresholds are what a quiet pinned core stays well under.
SPREAD_LIMIT = 0.25     # (p90 - p10) / median
DRIFT_LIMIT = 0.05      # |median of 2nd half - median of 1st half| / median
PROCESS_LIMIT = 0.10    # (slowest - fastest process median) / fastest
CV_LIMIT = 0.10         # std / mean, where only a summary is known (the spread limit for a normal shape)
# bounds of the CLI's protocol options: a measurement's worker is stopped after 900 s anyway
MAX_SECS = 3600.0
MAX_COUNT = 1_000_000


@dataclass(frozen=True)
class Protocol:
    runs: int = PROTOCOL.runs
    min_secs: float = PROTOCOL.min_secs
    warmup_runs: int = PROTOCOL.warmup_runs
    warmup_secs: float = PROTOCOL.warmup_secs
    max_secs: float = PROTOCOL.max_secs
    profile_runs: int = PROTOCOL.profile_runs
    # a runtime can settle at a different level in each process (here ORT and torch by up to 1.7x
    # with tight intervals each): the protocol runs in at least this many fresh processes
    processes: int = PROTOCOL.processes
    block_runs: int = PROTOCOL.block_runs
    target_ci: float = PROTOCOL.target_ci
    statistic: str = PROTOCOL.statistic

    def validate(self) -> "Protocol":
        for name in ("runs", "processes", "warmup_runs", "profile_runs", "block_runs"):
            least = 1 if name in ("runs", "processes", "block_runs") else 0
            if not least <= getattr(self, name) <= MAX_COUNT:
                raise UserError(f"--{name.replace('_', '-')} must be in {least}..{MAX_COUNT}")
        for name in ("min_secs", "warmup_secs", "max_secs"):
            if not 0 <= getattr(self, name) <= MAX_SECS:   # false for nan, which would never stop a loop
                raise UserError(f"--{name.replace('_', '-')} must be in 0..{MAX_SECS:g} s")
        if not 0 <= self.target_ci <= 100:
            raise UserError("--target-ci must be in 0..100 (%)")
        if self.statistic not in STATISTICS:
            raise UserError(f"--statistic must be one of {', '.join(STATISTICS)}")
        return self

    def as_dict(self) -> dict:
        return asdict(self)


def timed_loop(run: Callable[[], None], min_count: int, min_secs: float = 0.0,
               max_secs: float = math.inf) -> list[float]:
    samples: list[float] = []
    clock = time.perf_counter_ns
    start = clock()
    limit_ns, max_ns = min_secs * 1e9, max_secs * 1e9
    while True:
        elapsed = clock() - start
        if (len(samples) >= min_count and elapsed >= limit_ns) or (elapsed >= max_ns and samples):
            return samples
        t0 = clock()
        run()
        samples.append((clock() - t0) / 1e6)


def time_runs(run: Callable[[], None], protocol: Protocol) -> list[float]:
    """Warm-up, then the timed samples in milliseconds."""
    if protocol.warmup_runs or protocol.warmup_secs:
        timed_loop(run, protocol.warmup_runs, protocol.warmup_secs, protocol.max_secs)
    return timed_loop(run, protocol.runs, protocol.min_secs, protocol.max_secs)


def _percentile(sorted_x: list[float], q: float) -> float:
    pos = (len(sorted_x) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_x[lo] + (sorted_x[hi] - sorted_x[lo]) * (pos - lo)


def _median(x: list[float]) -> float:
    return _percentile(sorted(x), 0.5)


def median_ci95(sorted_x: list[float]) -> tuple[float, float]:
    """Distribution-free 95% interval of the median: the order statistics at n/2 -+ 1.96 sqrt(n)/2."""
    n = len(sorted_x)
    half = 1.96 * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half) - 1)
    hi = min(n - 1, math.ceil(n / 2 + half))
    return sorted_x[lo], sorted_x[hi]


def statistics(samples: list[float], process_medians: list[float] | None = None) -> dict:
    """median, mean, std, p10, p90, ci95, n, noisy, noisy_reason: the `latency_ms` of the JSON.
    Samples of several processes are pooled; their per-process medians say whether they agree."""
    if not samples:
        raise ValueError("no samples")
    s = sorted(samples)
    n = len(s)
    mean = sum(s) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in s) / (n - 1)) if n > 1 else 0.0
    median = _percentile(s, 0.5)
    p10, p90 = _percentile(s, 0.1), _percentile(s, 0.9)
    reasons = []
    if median > 0 and (p90 - p10) / median > SPREAD_LIMIT:
        reasons.append(f"high spread: p90-p10 is {100 * (p90 - p10) / median:.0f}% of the median")
    if process_medians and len(process_medians) > 1:
        fast, slow = min(process_medians), max(process_medians)
        if (slow - fast) / fast > PROCESS_LIMIT:
            reasons.append(f"processes disagree: medians {', '.join(f'{m:.3g}' for m in process_medians)} ms")
    elif n >= 10 and median > 0:
        # within one process; pooled processes' samples are not in time order
        drift = (_median(samples[n // 2:]) - _median(samples[: n // 2])) / median
        if abs(drift) > DRIFT_LIMIT:
            reasons.append(f"drift: the second half's median is {100 * drift:+.0f}% off the first's")
    return {"median": median, "mean": mean, "std": std, "p10": p10, "p90": p90,
            "ci95": list(median_ci95(s)), "min": s[0], "max": s[-1], "n": n,
            "noisy": bool(reasons), "noisy_reason": "; ".join(reasons) or None}


def summary_statistics(*, mean: float | None, n: int | None, std: float | None = None,
                       median: float | None = None, min: float | None = None, max: float | None = None,
                       reasons: list[str] | tuple[str, ...] = ()) -> dict:
    """The same document for a run known only by its summary (benchmark_model prints count, avg,
    std, min, max, and in newer versions a median, but no samples): what it lacks stays None,
    never guessed; a log with no end-to-end figure at all has mean None. `reasons`: what the
    target itself saw go wrong (e.g. a phone's core ran below its top clock), flagged too."""
    reasons = list(reasons)
    if std is not None and mean and std / mean > CV_LIMIT:
        reasons.append(f"high spread: std is {100 * std / mean:.0f}% of the mean")
    return {"median": median, "mean": mean, "std": std, "p10": None, "p90": None, "ci95": [None, None],
            "min": min, "max": max, "n": n, "noisy": bool(reasons), "noisy_reason": "; ".join(reasons) or None}
