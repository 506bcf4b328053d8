"""The rounds loop and the adaptive stopping rule, against fake invokes and fake targets (no timing
is asserted: the fakes hand over synthetic block times)."""
import itertools
from dataclasses import replace

import numpy as np
import pytest

from mbv3bench.core.errors import DeviceLost
from mbv3bench.core.results import Job, RawMeasurement
from mbv3bench.measure.adaptive import Interrupted, measure_jobs
from mbv3bench.measure.protocol import Protocol
from mbv3bench.measure.rounds import order_of, orders, run_rounds
from mbv3bench.targets.android.target import AdbTarget
from mbv3bench.targets.local import LocalTarget


def _job(name: str) -> Job:
    return Job(variant=name, runtime="litert", format="tflite", input_shape=(1, 3, 8, 8), artifact=f"/{name}.tflite",
               threads=1, options={}, protocol={"profile_runs": 0}, per_layer=False)


def test_orders_mirror_each_round_so_no_cell_is_always_first():
    assert list(itertools.islice(orders(2, 0), 4)) == [[0, 1], [1, 0], [0, 1], [1, 0]]
    assert next(orders(2, 1)) == [1, 0]           # processes alternate who starts
    five = list(itertools.islice(orders(5, 3), 40))
    for first, second in zip(five[::2], five[1::2]):
        assert sorted(first) == list(range(5)) and second == first[::-1]
    assert [order_of(3, i) for i in range(2)] == list(itertools.islice(orders(3, 0), 2))


def test_run_rounds_times_one_block_of_every_cell_per_round():
    calls, seen = [], []
    invokes = [lambda i=i: calls.append(i) for i in range(3)]
    n = run_rounds(invokes, block_runs=4, min_rounds=6, min_secs=0, max_secs=60, seed=0,
                   on_round=lambda index, t, order, samples: seen.append((order, [len(s) for s in samples])))
    assert n == 6 and len(seen) == 6 and all(lengths == [4, 4, 4] for _, lengths in seen)
    # the calls follow each round's order, block by block
    expected = [i for order, _ in seen for i in order for _ in range(4)]
    assert calls == expected


class FakeLocal(LocalTarget):
    """The local target whose 'processes' of rounds are fake: each block's samples come from
    `level(process, cell)`."""
    name, core = "fake", 0

    def __init__(self, level, rounds=20, fail_at=None):
        self.level, self.rounds, self.fail_at, self.processes = level, rounds, fail_at, 0

    def state(self):
        return {"loadavg_1m": 0.0}

    def _run_process(self, jobs, *, mode, on_line, seed=0, max_secs=0):
        if mode == "profile":
            return
        if self.fail_at == self.processes:
            raise self.fail_with
        p, self.processes = self.processes, self.processes + 1
        rng = np.random.default_rng(p)
        for r in range(self.rounds):
            on_line({"round": r, "t": 0.0, "order": list(range(len(jobs))),
                     "samples": [list(self.level(p, i) * (1 + 0.01 * rng.standard_normal(5))) for i in range(len(jobs))]})
        on_line({"done": self.rounds, "cpu_share": 0.99})


def _measure(target, **protocol):
    base = dict(processes=3, target_ci=2.0, max_secs=1e9, block_runs=5)
    return measure_jobs([_job("a"), _job("b")], target, Protocol(**{**base, **protocol}), labels=["a", "b"])


def test_stops_at_the_minimum_when_every_interval_is_tight():
    raws = _measure(FakeLocal(lambda p, i: 2.0 * (1.1 if i else 1.0)))
    assert [r.rounds["stopped_by"] for r in raws] == ["target", "target"]
    assert raws[0].rounds["processes"] == 3 and [len(b) for b in raws[0].blocks_ms] == [20, 20, 20]
    assert raws[0].rounds["cpu_share"] == [0.99] * 3
    assert len(raws[1].samples_ms) == 3 * 20 * 5


def test_keeps_adding_processes_until_the_target_or_the_budget():
    # processes settle at different levels: 3 are not enough for +-2%, more are
    wobbly = FakeLocal(lambda p, i: 2.0 * (1 + 0.04 * ((p * 7) % 5 - 2) / 2) * (1.1 if i else 1.0))
    raws = _measure(wobbly)
    assert raws[0].rounds["stopped_by"] == "target" and raws[0].rounds["processes"] > 3
    capped = _measure(FakeLocal(lambda p, i: 2.0 * (1 + 0.3 * (p % 2))), max_secs=0)
    assert capped[0].rounds["stopped_by"] == "max_secs" and capped[0].rounds["processes"] == 3
    fixed = _measure(FakeLocal(lambda p, i: 2.0 * (1 + 0.3 * (p % 2))), target_ci=0)
    assert fixed[0].rounds["stopped_by"] == "processes" and fixed[0].rounds["processes"] == 3


@pytest.mark.parametrize("cause", [KeyboardInterrupt(), DeviceLost("gone")])
def test_interruption_keeps_the_finished_processes(cause):
    target = FakeLocal(lambda p, i: 2.0, fail_at=2)
    target.fail_with = cause
    with pytest.raises(Interrupted) as caught:
        _measure(target)
    raws = caught.value.raws
    assert caught.value.cause is cause and [len(b) for b in raws[0].blocks_ms] == [20, 20]
    assert raws[0].rounds["cpu_share"] == [0.99] * 2
    assert raws[0].rounds["stopped_by"] == ("interrupted" if isinstance(cause, KeyboardInterrupt) else "device lost")
    first = FakeLocal(lambda p, i: 2.0, fail_at=0)
    first.fail_with = cause
    with pytest.raises(type(cause)):          # nothing finished: nothing to keep
        _measure(first)


class FakePhone(AdbTarget):
    """The phone target whose benchmark_model runs are fake (a summary each)."""
    name, core = "phone", 4

    def __init__(self):
        self.calls = []

    def state(self):
        return {}

    def measure(self, job):
        self.calls.append((job.variant, job.per_layer, job.protocol.get("runs")))
        ms = 5.0 if job.variant == "a" else 6.0
        return RawMeasurement(summary={"mean": ms, "median": ms, "n": 50, "std": 0.1, "min": ms, "max": ms},
                              device_state={"before": {"t": len(self.calls)}, "after": {"t": len(self.calls)},
                                            "cooldowns": [], "throttled": None})


def test_a_phone_measures_in_rounds_of_benchmark_runs_in_alternating_order():
    phone = FakePhone()
    jobs = [replace(_job(v), per_layer=True, protocol={"profile_runs": 2, "runs": 50}) for v in "ab"]
    raws = measure_jobs(jobs, phone, Protocol(processes=4, target_ci=0), labels=["a", "b"])
    timed = [(v, runs) for v, per_layer, runs in phone.calls if not per_layer]
    assert [v for v, _ in timed] == list("abba" * 2) and all(runs == 50 for _, runs in timed)
    assert [(v, runs) for v, per_layer, runs in phone.calls if per_layer] == [("a", 1), ("b", 1)]  # profiles last
    assert raws[0].blocks_ms == [[5.0]] * 4 and raws[1].summary["n"] == 200
    assert raws[0].device_state["before"] == {"t": 1} and raws[0].device_state["rounds"] == 8
