"""Is B slower than A? A ratio with its interval and a test, turned into one verdict with a
threshold, the way asv tells a regression from noise: `regression` only when B is slower by more
than the threshold AND the difference is significant; `improvement` the same the other way;
`unchanged` otherwise; NOT_COMPARED where there was nothing to test and REFERENCE for the one cell
whose ratio is the host's drift (neither is ever "unchanged"). Plus which layers account for a
change."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..core.results import Result

ALPHA = 0.05               # significance level of the test
NOT_COMPARED = "not compared"
REFERENCE = "reference"
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Ratio:
    """B/A with a 95% interval and a p-value of "B and A are the same speed"."""
    value: float
    ci95: tuple[float, float]
    p_value: float
    how: str                 # what the interval and the test come from, said in the output


@dataclass
class Comparison:
    a: str
    b: str
    runtime: str
    format: str | None
    metric: str              # time | instructions
    a_value: float | None
    b_value: float | None
    ratio: float | None      # None: NOT_COMPARED, `how` says why
    ci95: tuple[float | None, float | None]
    p_value: float | None
    verdict: str
    how: str
    layers: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        d = asdict(self)
        d["ci95"] = list(self.ci95)
        return d


def verdict(ratio: Ratio, threshold: float) -> str:
    """threshold: the smallest change that matters, as a fraction (0.05 = 5%). A NaN threshold
    would make every comparison false, so every regression "unchanged": refused."""
    if not 0 <= threshold < math.inf:
        raise ValueError(f"threshold {threshold!r}: expected a finite fraction >= 0")
    significant = ratio.p_value < ALPHA
    if significant and ratio.value > 1 + threshold and ratio.ci95[0] > 1:
        return "regression"
    if significant and ratio.value < 1 - threshold and ratio.ci95[1] < 1:
        return "improvement"
    return "unchanged"


def _normal_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2))


def log_se(value: float, ci95: tuple[float | None, float | None]) -> float | None:
    """The standard error of log(value) that a 95% interval implies (intervals of medians are
    close to symmetric on the log scale)."""
    lo, hi = ci95
    if lo is None or hi is None or lo <= 0 or hi <= 0 or value <= 0:
        return None
    return (math.log(hi) - math.log(lo)) / (2 * Z95)


def ratio_of_independent(a: float, a_ci: tuple, b: float, b_ci: tuple, how: str) -> Ratio | None:
    """B/A of two cells measured apart (two saved runs): their log standard errors add."""
    se_a, se_b = log_se(a, a_ci), log_se(b, b_ci)
    if se_a is None or se_b is None:
        return None
    se = math.sqrt(se_a ** 2 + se_b ** 2)
    log_r = math.log(b / a)
    z = log_r / se if se > 0 else (math.inf if log_r else 0.0)
    return Ratio(b / a, (math.exp(log_r - Z95 * se), math.exp(log_r + Z95 * se)), _normal_p(z), how)


def exact_ratio(a: float, b: float, how: str) -> Ratio:
    """B/A of deterministic counts (instructions): no sampling error, so any difference is real and
    the threshold alone decides whether it matters."""
    return Ratio(b / a, (b / a, b / a), 0.0 if a != b else 1.0, how)


def corrected(r: Ratio, drift: Ratio) -> Ratio:
    """A cell's ratio with the host's drift between two runs divided out (drift: a reference cell's
    ratio, which should be 1 when nothing but the host changed)."""
    se_r, se_d = log_se(r.value, r.ci95), log_se(drift.value, drift.ci95)
    value = r.value / drift.value
    se = math.sqrt((se_r or 0) ** 2 + (se_d or 0) ** 2)
    log_v = math.log(value)
    z = log_v / se if se > 0 else (math.inf if log_v else 0.0)
    return Ratio(value, (math.exp(log_v - Z95 * se), math.exp(log_v + Z95 * se)), _normal_p(z),
                 f"{r.how}; divided by the reference's ratio {drift.value:.4f} (host drift between the runs)")


def layer_attribution(a: Result, b: Result, limit: int = 8) -> list[dict]:
    """Which layers account for the change: each layer's delta (ms, B - A) and its share of the
    summed delta, largest first. Layers present on one side only count from zero."""
    ms_a = {r.name: r.ms for r in a.per_layer}
    ms_b = {r.name: r.ms for r in b.per_layer}
    names = list(dict.fromkeys([*ms_a, *ms_b]))
    deltas = {n: ms_b.get(n, 0.0) - ms_a.get(n, 0.0) for n in names}
    total = sum(deltas.values())
    rows = [{"layer": n, "a_ms": ms_a.get(n), "b_ms": ms_b.get(n), "delta_ms": d,
             "share": d / total if total else None} for n, d in deltas.items()]
    return sorted(rows, key=lambda r: -abs(r["delta_ms"]))[:limit]
