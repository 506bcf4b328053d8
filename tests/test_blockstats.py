"""Block statistics on synthetic data whose truth is known: drifting, correlated blocks in several
processes, each process at a level (and a ratio) of its own, as on the host (runtime-notes)."""
import math

import numpy as np
import pytest

from mbv3bench.measure import blockstats as bs

TRUE_MS, TRUE_RATIO = 3.0, 1.1


def simulate(rng, runs, procs=4, rounds=80, sd_proc=0.05, sd_drift=0.12, rho=0.95, sd_block=0.02,
             ratio=TRUE_RATIO, sd_proc_ratio=0.006):
    """Block medians of two cells, shape (runs, procs, rounds): log level = a process offset + an
    AR(1) drift shared by both cells (rho per round) + block noise; b also carries a per-process
    ratio offset. The population median of a is TRUE_MS, of b / a the ratio."""
    drift = np.empty((runs, procs, rounds))
    d = rng.normal(0, sd_drift, (runs, procs))
    for r in range(rounds):
        d = rho * d + math.sqrt(1 - rho ** 2) * rng.normal(0, sd_drift, (runs, procs))
        drift[..., r] = d
    level = math.log(TRUE_MS) + rng.normal(0, sd_proc, (runs, procs, 1)) + drift
    a = np.exp(level + rng.normal(0, sd_block, drift.shape))
    b = np.exp(level + math.log(ratio) + rng.normal(0, sd_proc_ratio, (runs, procs, 1))
               + rng.normal(0, sd_block, drift.shape))
    return a, b


def test_t_distribution_without_scipy():
    assert bs.t_quantile(2) == pytest.approx(4.302653, abs=1e-5)
    assert bs.t_quantile(30) == pytest.approx(2.042272, abs=1e-5)
    assert bs.t_p_value(2.1, 5) == pytest.approx(0.089753, abs=1e-5)
    assert bs.t_p_value(0.0, 3) == pytest.approx(1.0)


@pytest.mark.parametrize("procs", [3, 6])
def test_interval_covers_the_truth_about_95_percent_under_drift(procs):
    rng = np.random.default_rng(procs)
    a, b = simulate(rng, 400, procs=procs)
    level_hits = ratio_hits = 0
    for run_a, run_b in zip(a, b):
        lo, hi = bs.level(run_a.tolist()).ci95
        level_hits += lo <= TRUE_MS <= hi
        lo, hi = bs.ratio(run_b.tolist(), run_a.tolist()).ci95
        ratio_hits += lo <= TRUE_RATIO <= hi
    assert 0.90 <= level_hits / len(a) <= 0.99
    assert 0.90 <= ratio_hits / len(a) <= 0.99


def test_pooled_sample_interval_would_not_cover():
    """What this replaces: an interval that treats every block as independent covers far less."""
    rng = np.random.default_rng(7)
    a, _ = simulate(rng, 200)
    hits = 0
    for run in a:
        x = np.sort(run.ravel())
        n = x.size
        half = 1.96 * math.sqrt(n) / 2
        hits += x[max(0, math.floor(n / 2 - half) - 1)] <= TRUE_MS <= x[min(n - 1, math.ceil(n / 2 + half))]
    assert hits / len(a) < 0.6


def test_paired_ratio_recovers_a_known_ratio_under_drift():
    rng = np.random.default_rng(3)
    # a strong drift: the level swings by tens of percent within each process
    a, b = simulate(rng, 1, procs=4, sd_drift=0.3, sd_proc=0.15, sd_proc_ratio=0.002)
    est = bs.ratio(b[0].tolist(), a[0].tolist())
    assert est.value == pytest.approx(TRUE_RATIO, rel=0.01)
    assert est.ci95[0] < TRUE_RATIO < est.ci95[1] and est.half_pct < 2.0 and est.p_value < 1e-3
    # a and b measured one after the other (the first half of a run, then the second) swing far more
    unpaired = np.median(b[0][:, 40:]) / np.median(a[0][:, :40])
    assert abs(unpaired / TRUE_RATIO - 1) > abs(est.value / TRUE_RATIO - 1)


def test_ratio_is_reciprocal_and_p_is_uniform_under_no_effect():
    rng = np.random.default_rng(11)
    a, b = simulate(rng, 300, procs=4, ratio=1.0)
    ps = []
    for run_a, run_b in zip(a, b):
        ab, ba = bs.ratio(run_a.tolist(), run_b.tolist()), bs.ratio(run_b.tolist(), run_a.tolist())
        assert ab.value * ba.value == pytest.approx(1.0) and ab.p_value == pytest.approx(ba.p_value)
        ps.append(ab.p_value)
    assert 0.01 <= np.mean(np.array(ps) < 0.05) <= 0.10


def test_few_processes_fall_back_to_segments_and_say_so():
    rng = np.random.default_rng(5)
    a, _ = simulate(rng, 1, procs=1)
    est = bs.level(a[0].tolist())
    assert est.unit == "segment" and est.units == bs.SEGMENT_UNITS
    stats = bs.cell_statistics(a[0].ravel().tolist(), a[0].tolist())
    assert any("segments" in n and "processes differ" in n for n in stats["notes"])
    assert bs.level([[1.0]]).ci95 == (None, None)   # one block: no interval, never a made-up one


def test_noise_verdict_names_what_it_saw():
    steady = [[1.0, 1.01, 0.99, 1.0]] * 4
    quiet = bs.cell_statistics([1.0] * 16, steady)
    assert not quiet["noisy"] and quiet["notes"] == [] and quiet["drift_pct"] == pytest.approx(0.0, abs=1.5)
    # a drift the processes all saw: tight interval, told but not flagged
    drifting = [[1.0, 1.0, 1.2, 1.2]] * 4
    told = bs.cell_statistics([1.0] * 16, drifting)
    assert not told["noisy"] and told["drift_pct"] == pytest.approx(20.0)
    assert "moved by 20%" in told["notes"][0] and "accounts for it" in told["notes"][0]
    # processes that disagree: a wide interval, flagged with the drift it saw
    wide = bs.cell_statistics([1.0] * 16, [[1.0] * 4, [1.3] * 4, [0.8] * 4, [1.1] * 4])
    assert wide["noisy"] and "95% interval" in wide["noisy_reason"] and "moved by" in wide["noisy_reason"]


def test_phone_blocks_take_the_rest_from_summaries():
    summaries = [{"mean": 10.0, "std": 1.0, "n": 50, "min": 8.0, "max": 13.0},
                 {"mean": 12.0, "std": 1.0, "n": 50, "min": 9.0, "max": 15.0}]
    pooled = bs.pooled_summary(summaries)
    assert pooled["mean"] == 11.0 and pooled["n"] == 100 and (pooled["min"], pooled["max"]) == (8.0, 15.0)
    assert pooled["std"] == pytest.approx(math.sqrt(2.0))
    stats = bs.cell_statistics([], [[9.8], [11.9], [10.5]], summary=pooled)
    assert stats["median"] == pytest.approx(10.5) and stats["mean"] == 11.0 and stats["p10"] is None
    means = bs.cell_statistics([], [[9.8], [11.9], [10.5]], summary=pooled, block_value="mean")
    assert means["median"] is None and means["mean"] == pytest.approx(10.5)


def test_a_shared_core_is_noisy_whatever_the_interval():
    steady = [[1.0, 1.01, 0.99, 1.0]] * 4
    shared = bs.cell_statistics([1.0] * 16, steady, cpu_share=[0.65, 0.7, 0.99, 1.0])
    assert shared["noisy"] and shared["noisy_reason"].startswith(
        "other processes ran on the measured core: the workers had 65-100% of it")
    assert not bs.cell_statistics([1.0] * 16, steady, cpu_share=[0.97, 0.99])["noisy"]


def test_processes_alike_their_neighbours_count_as_fewer_units():
    """A drift slower than a process: consecutive processes alike, the set trending. The same
    process medians in shuffled order are worth all 8 units; in trending order far fewer."""
    levels = [1.0, 1.02, 1.05, 1.06, 1.09, 1.1, 1.13, 1.15]
    shuffled = [levels[i] for i in (3, 0, 6, 2, 7, 1, 5, 4)]
    trend, mixed = (bs.level([[x] * 5 for x in order]) for order in (levels, shuffled))
    assert mixed.half_pct < trend.half_pct and trend.value == mixed.value


@pytest.mark.parametrize("procs", [3, 6])
def test_p10_interval_covers_the_p10_of_all_blocks_and_its_ratio_the_truth(procs):
    """By the p10 each unit gives its p10: the interval covers the p10 a cell's blocks have over
    many processes (a long simulation's), and the ratio of two cells' p10s the true ratio."""
    truth = float(np.quantile(simulate(np.random.default_rng(99), 3000, procs=procs)[0], 0.1))
    a, b = simulate(np.random.default_rng(procs), 400, procs=procs)
    level_hits = ratio_hits = 0
    for run_a, run_b in zip(a, b):
        lo, hi = bs.level(run_a.tolist(), "p10").ci95
        level_hits += lo <= truth <= hi
        lo, hi = bs.ratio(run_b.tolist(), run_a.tolist(), "p10").ci95
        ratio_hits += lo <= TRUE_RATIO <= hi
    assert 0.88 <= level_hits / len(a) <= 0.99
    assert 0.88 <= ratio_hits / len(a) <= 0.99


def test_statistics_are_quantiles_of_the_blocks_and_min_pairs_by_the_median():
    a, b = simulate(np.random.default_rng(4), 1, procs=4)
    run_a, run_b = a[0].tolist(), b[0].tolist()
    assert bs.level(run_a, "min").value == pytest.approx(a[0].min())
    assert bs.level(run_a, "p10").value < bs.level(run_a).value
    # a ratio of two extremes is not a sound ratio of speeds: by the minimum, pairs keep the median
    assert bs.ratio(run_b, run_a, "min").value == bs.ratio(run_b, run_a).value
    assert bs.ratio(run_b, run_a, "p10").value != bs.ratio(run_b, run_a).value
