"""Statistics with the block as the unit.

A block is a few consecutive invokes of one cell; its median is one observation. Blocks of one
process are not independent: the host's speed drifts over seconds, and a process can settle at
a level of its own (memory placement, the runtime's state), for a cell's latency and for the
ratio of two cells alike. So every interval here is built from units that are independent: the
processes when there are at least MIN_PROCESS_UNITS of them, else contiguous segments of each
process's rounds (which cannot see what differs between processes; the result says so). Each
unit contributes the median of its log block values; across the k units, Student's t on the log
scale, centred on the median of all blocks, with k counted down to the units' effective number
where neighbouring units are alike (drift slower than a process). With the 3-10 units a
run has, a bootstrap that resamples them sees only a few dozen distinct resamples and its
percentile interval is too narrow; the t quantile is what accounts for having few units
(tests/test_blockstats.py checks the coverage on simulated drifting, correlated blocks).

A cell's statistic (core.registry STATISTICS: the median, the 10th percentile or the minimum of
its blocks) is made the same way: each unit contributes that quantile of its log block values,
the estimate is the quantile of all blocks, and t across the units gives the interval.

Two cells measured together are compared block by block: the blocks of the same round of the
same process, a few invokes apart, so any drift slower than a round hits both alike; their
ratio is the median of those paired log ratios. By the p10 it is the ratio of the two cells'
p10s, per unit (the same processes and rounds): the 10th percentile of paired ratios would be
the low tail of the ratio's noise, not a ratio of speeds. By the minimum it stays the paired
median (RATIO_STATISTIC): a ratio of two extremes covered a known ratio only 78% of the time on
the simulated blocks of tests/test_blockstats.py (6 processes), the others 90-96%.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from ..core.registry import STATISTICS

MIN_PROCESS_UNITS = 3
SEGMENT_UNITS = 6         # units wanted when processes are too few to be the units
MIN_SEGMENT_BLOCKS = 3
NOISY_HALF_PCT = 5.0      # an interval wider than this (half-width, % of the estimate) is flagged
DRIFT_NOTE_PCT = 5.0      # a drift past this is reported even when the interval stays tight
SHARED_CORE = 0.9         # a worker that got less of its core than this shared it with other processes
RATIO_STATISTIC = {"median": "median", "p10": "p10", "min": "median"}   # what a pair's ratio is by (above)


@dataclass(frozen=True)
class Estimate:
    value: float                                  # ms for a cell, the ratio for a pair
    ci95: tuple[float | None, float | None]
    half_pct: float | None                        # the interval's half-width, % of value (log scale)
    units: int
    unit: str                                     # "process" | "segment"
    blocks: int
    p_value: float | None = None                  # pairs: the t test of ratio == 1 the interval inverts


# ---- Student's t without scipy -----------------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300

    def guard(v: float) -> float:
        return tiny if abs(v) < tiny else v

    c, d = 1.0, 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, 500):
        for aa in (m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m)),
                   -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m))):
            d = 1.0 / guard(1.0 + aa * d)
            c = guard(1.0 + aa / c)
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_p_value(t: float, df: float) -> float:
    """Two-sided p of Student's t statistic."""
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


@lru_cache(maxsize=None)
def t_quantile(df: float, level: float = 0.95) -> float:
    lo, hi = 0.0, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_p_value(mid, df) > 1 - level else (lo, mid)
    return (lo + hi) / 2


# ---- estimates ---------------------------------------------------------------------------------

def _units(per_process: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
    if len(per_process) >= MIN_PROCESS_UNITS:
        return per_process, "process"
    each = math.ceil(SEGMENT_UNITS / max(1, len(per_process)))
    return [seg for p in per_process for seg in np.array_split(p, max(1, min(each, len(p) // MIN_SEGMENT_BLOCKS)))
            if seg.size], "segment"


def _effective_units(medians: np.ndarray) -> float:
    """How many independent units k time-ordered unit medians are worth. Drift slower than a
    process makes neighbours alike (lag-1 autocorrelation rho > 0), and k such units know less
    than k independent ones: k (1 - rho) / (1 + rho), the AR(1) effective sample size. Never
    more than k (a negative rho is noise at these k), never below 3 (t with 1 degree of freedom
    would make a steady trend look like chaos); rho needs 4 units at least."""
    k = len(medians)
    r = medians - medians.mean()
    ss = float(np.sum(r * r))
    if k < 4 or ss == 0.0:
        return float(k)
    rho = max(0.0, float(np.sum(r[1:] * r[:-1])) / ss)
    return max(3.0, k * (1 - rho) / (1 + rho))


def _estimate(per_process: list[np.ndarray], value: Callable[[np.ndarray], float], test: bool) -> Estimate | None:
    """per_process: each process's rows in round order (a log block time, or a row of them);
    value: a unit's rows -> its log-scale number, the same of all rows being the estimate."""
    per_process = [p for p in per_process if len(p)]
    if not per_process:
        return None
    pooled = np.concatenate(per_process)
    center = value(pooled)
    pieces, unit = _units(per_process)
    k = len(pieces)
    if k < 2:
        return Estimate(math.exp(center), (None, None), None, k, unit, len(pooled))
    values = np.array([value(p) for p in pieces])
    k_eff = _effective_units(values)
    se = float(np.std(values, ddof=1)) / math.sqrt(k_eff)
    half = t_quantile(k_eff - 1) * se
    p = None
    if test:
        p = t_p_value(center / se, k_eff - 1) if se > 0 else float(center == 0.0)
    return Estimate(math.exp(center), (math.exp(center - half), math.exp(center + half)),
                    100 * math.expm1(half), k, unit, len(pooled), p)


def _quantile(statistic: str) -> Callable[[np.ndarray], float]:
    q = STATISTICS[statistic]
    return lambda x: float(np.quantile(x, q))


def level(blocks_ms: list[list[float]], statistic: str = "median") -> Estimate | None:
    """A cell's statistic of its block times with its 95% interval."""
    return _estimate([np.log(np.asarray(b, dtype=float)) for b in blocks_ms], _quantile(statistic), test=False)


def ratio(a_ms: list[list[float]], b_ms: list[list[float]], statistic: str = "median") -> Estimate | None:
    """a / b from the paired blocks (same process, same round), with its interval and p-value, by
    the pair's statistic for cells headlined by `statistic` (RATIO_STATISTIC)."""
    statistic = RATIO_STATISTIC[statistic]
    pairs = []
    for a, b in zip(a_ms, b_ms):
        n = min(len(a), len(b))
        pairs.append(np.log(np.column_stack([np.asarray(a[:n], dtype=float), np.asarray(b[:n], dtype=float)]))
                     if n else np.empty((0, 2)))
    if statistic == "median":
        return _estimate([p[:, 0] - p[:, 1] for p in pairs], _quantile("median"), test=True)
    q = _quantile(statistic)
    return _estimate(pairs, lambda rows: q(rows[:, 0]) - q(rows[:, 1]), test=True)


def drift(blocks_ms: list[list[float]]) -> tuple[float, float, float] | None:
    """How far the host's speed moved during the run: (percent, slowest, fastest) over the
    medians of each half of each process."""
    halves = [float(np.median(h)) for b in blocks_ms if len(b) >= 2 for h in np.array_split(np.asarray(b), 2)]
    if len(halves) < 2:
        return None
    lo, hi = min(halves), max(halves)
    return 100 * (hi / lo - 1), lo, hi


def pooled_summary(summaries: list[dict]) -> dict:
    """mean, std, min, max, n of several benchmark_model runs known only by their summaries."""
    known = [s for s in summaries if s.get("mean") is not None and s.get("n")]
    if not known:
        return {}
    n = sum(s["n"] for s in known)
    mean = sum(s["n"] * s["mean"] for s in known) / n
    var = sum(s["n"] * ((s.get("std") or 0.0) ** 2 + (s["mean"] - mean) ** 2) for s in known) / n
    mins, maxs = [s["min"] for s in known if s.get("min") is not None], [s["max"] for s in known if s.get("max") is not None]
    return {"mean": mean, "std": math.sqrt(var), "n": n, "min": min(mins) if mins else None,
            "max": max(maxs) if maxs else None,
            "reasons": list(dict.fromkeys(r for s in summaries for r in s.get("reasons") or []))}


def cell_statistics(samples: list[float], blocks_ms: list[list[float]], *, summary: dict | None = None,
                    statistic: str = "median", block_value: str = "median",
                    cpu_share: list[float] | None = None) -> dict:
    """The `latency_ms` of a cell measured in rounds, with n, noisy, noisy_reason, notes and
    drift_pct. `value` (the headline) is the statistic of the blocks, `ci95` its interval;
    `median` is the median of the blocks, and where each block is a phone run known only by its
    mean (`block_value` "mean") that median is `mean` instead. std, percentiles and extremes come
    from the samples, or, where none exist (phones), from the runs' pooled summary."""
    est = level(blocks_ms, statistic)
    center = est if statistic == "median" else level(blocks_ms)
    if samples:
        s = np.asarray(samples, dtype=float)
        spread = {"mean": float(s.mean()), "std": float(s.std(ddof=1)) if s.size > 1 else 0.0,
                  "p10": float(np.percentile(s, 10)), "p90": float(np.percentile(s, 90)),
                  "min": float(s.min()), "max": float(s.max()), "n": int(s.size)}
    else:
        spread = {"p10": None, "p90": None, **{"mean": None, "std": None, "min": None, "max": None, "n": None},
                  **{k: v for k, v in (summary or {}).items() if k in ("mean", "std", "min", "max", "n")}}
    doc = {**spread, "median": center.value if block_value == "median" else None, "ci95": list(est.ci95),
           "value": est.value}
    if block_value == "mean":
        doc["mean"] = center.value
    moved = drift(blocks_ms)
    noisy, reason, notes = verdict(est, moved, cpu_share)
    seen_by_target = list((summary or {}).get("reasons") or [])   # e.g. a phone's slow clock, lost pinning
    if seen_by_target:
        noisy, reason = True, "; ".join(seen_by_target + ([reason] if reason else []))
    return {**doc, "noisy": noisy, "noisy_reason": reason, "notes": notes,
            "drift_pct": moved[0] if moved else None, "estimate": est}


def units_text(est: Estimate) -> str:
    return units_phrase(est.units, est.unit)


def units_phrase(units: int, unit: str) -> str:
    return f"{units} {'processes' if unit == 'process' else 'segments of the rounds'}"


def verdict(est: Estimate, moved: tuple[float, float, float] | None,
            cpu_share: list[float] | None = None) -> tuple[bool, str | None, list[str]]:
    """Whether a cell is noisy, and what was seen: the drift is told either way, and a tight
    interval says it already accounts for it. A core shared with other processes is noisy
    whatever the interval: their load comes and goes over tens of seconds, so the next run can
    sit at another level that no interval of this one foresees."""
    seen = (f"the host's speed moved by {moved[0]:.0f}% during the run (medians of half processes "
            f"{moved[1]:.3g} to {moved[2]:.3g} ms)") if moved else None
    if cpu_share and min(cpu_share) < SHARED_CORE:
        return True, (f"other processes ran on the measured core: the workers had {100 * min(cpu_share):.0f}-"
                      f"{100 * max(cpu_share):.0f}% of it" + (f"; {seen}" if seen else "")), []
    notes = []
    if est.unit == "segment" and est.half_pct is not None:
        notes.append(f"interval from {units_text(est)}: with fewer than {MIN_PROCESS_UNITS} processes it cannot "
                     "show how much processes differ")
    if est.half_pct is None:
        return False, None, notes + ["no interval: fewer than 2 independent units (processes or segments)"]
    if est.half_pct > NOISY_HALF_PCT:
        return True, f"95% interval +-{est.half_pct:.1f}% (over {NOISY_HALF_PCT:g}%)" + (f"; {seen}" if seen else ""), notes
    if moved and moved[0] > DRIFT_NOTE_PCT:
        notes.append(f"{seen}; the interval, from {units_text(est)}, accounts for it")
    return False, None, notes
