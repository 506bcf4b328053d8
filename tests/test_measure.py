import math
import time

import pytest

from mbv3bench.core.errors import UserError
from mbv3bench.measure.protocol import Protocol, median_ci95, statistics, summary_statistics, time_runs


def test_statistics_of_known_samples():
    s = statistics([float(x) for x in range(1, 101)])
    assert s["median"] == 50.5 and s["mean"] == 50.5 and s["n"] == 100
    assert s["p10"] == pytest.approx(10.9) and s["p90"] == pytest.approx(90.1)
    assert s["std"] == pytest.approx(math.sqrt(sum((x - 50.5) ** 2 for x in range(1, 101)) / 99))
    lo, hi = s["ci95"]
    assert lo < s["median"] < hi and (lo, hi) == (40.0, 61.0)


def test_ci_narrows_with_more_samples():
    wide, narrow = median_ci95(sorted(range(20))), median_ci95(sorted(range(2000)))
    assert (wide[1] - wide[0]) / 20 > (narrow[1] - narrow[0]) / 2000


def test_quiet_samples_are_not_noisy():
    s = statistics([10.0 + 0.01 * (i % 5) for i in range(60)])
    assert not s["noisy"] and s["noisy_reason"] is None


def test_drift_between_halves_is_flagged():
    s = statistics([10.0] * 30 + [11.0] * 30)
    assert s["noisy"] and "drift" in s["noisy_reason"]


def test_spread_is_flagged():
    s = statistics([10.0, 20.0] * 30)
    assert s["noisy"] and "spread" in s["noisy_reason"]


def test_summary_statistics_leave_unknowns_empty():
    s = summary_statistics(mean=10.0, n=50, std=2.0)
    assert s["median"] is None and s["ci95"] == [None, None] and s["noisy"]
    assert not summary_statistics(mean=10.0, n=50, std=0.1)["noisy"]


def test_time_runs_meets_both_the_count_and_the_seconds():
    calls = []
    samples = time_runs(lambda: calls.append(1), Protocol(runs=7, min_secs=0, warmup_runs=3, warmup_secs=0))
    assert len(samples) == 7 and len(calls) == 10          # warm-up runs are not samples
    start = time.perf_counter()
    samples = time_runs(lambda: None, Protocol(runs=2, min_secs=0.05, warmup_runs=0, warmup_secs=0))
    assert time.perf_counter() - start >= 0.05 and len(samples) > 2


def test_time_runs_stops_at_max_secs():
    samples = time_runs(lambda: time.sleep(0.01), Protocol(runs=10_000, min_secs=0, warmup_runs=0,
                                                           warmup_secs=0, max_secs=0.05))
    assert 1 <= len(samples) < 10_000


def test_bad_protocol_is_rejected():
    with pytest.raises(UserError, match="--runs"):
        Protocol(runs=0).validate()
    with pytest.raises(UserError, match="--min-secs"):
        Protocol(min_secs=-1).validate()


def test_processes_that_disagree_are_flagged():
    s = statistics([10.0] * 40 + [13.0] * 20, process_medians=[10.0, 10.0, 13.0])
    assert s["noisy"] and "processes disagree" in s["noisy_reason"] and s["median"] == 10.0
    assert not statistics([10.0] * 60, process_medians=[10.0, 10.1, 10.05])["noisy"]
