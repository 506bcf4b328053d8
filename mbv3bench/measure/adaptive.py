"""A group of cells measured together until their intervals are tight.

Processes of rounds are added one at a time: at least --processes of them, then more until every
cell's 95% interval and every pair's ratio interval is within --target-ci percent of its
estimate, or --max-secs (wall clock, the whole group) would run out before another process
finished. Then one more process profiles each cell, so the profiler never touches a timed number. Ctrl-C, or a phone that goes away, ends the
measuring: the processes that finished make the result (stopped_by "interrupted" or
"device lost"); an unfinished one is dropped.

Any single device works (targets/base.py: DeviceTarget): it measures one unit at a time
(`time_unit`) and hands each round to the group (RoundSink). On this machine a unit is a fresh pinned
process of rounds, each round a block of invokes of every cell; on a phone it is one round of short
benchmark_model runs, one per cell in alternating order, each a process of its own on the phone,
so heat and drift reach every cell alike.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Protocol as Interface

from ..core.errors import DeviceLost, UserError
from ..core.results import Job, OpRow, RawMeasurement
from . import blockstats
from .blockstats import Estimate
from .protocol import Protocol

MAX_PROCESSES = 200
PROGRESS_S = 0.5      # the display is refreshed at most this often while a process streams rounds


class Interrupted(Exception):
    """Ctrl-C or a lost device during a group (`cause`), with what the finished processes
    measured (`raws`) for the caller to keep before it raises the cause; `group`: which of the
    groups a target was given (targets/base.py: measure_groups)."""

    def __init__(self, raws: list[RawMeasurement], cause: BaseException, group: int | None = None):
        super().__init__(str(cause))
        self.raws, self.cause, self.group = raws, cause, group


@dataclass(frozen=True)
class Snapshot:
    """Where a group's measurement stands, for a progress display."""
    labels: list[str]
    cells: list[Estimate | None]
    pairs: list[tuple[int, int, Estimate | None]]
    processes: int
    elapsed_s: float
    eta_s: float | None
    target_pct: float
    phase: str               # timing | profiling
    statistic: str = "median"


class RoundSink(Interface):
    """What a target hands the rounds of a unit to (targets/base.py: DeviceTarget.time_unit)."""

    def take_round(self, samples: list[list[float]]) -> None:
        """One round of invokes: per cell, its block's samples in ms."""

    def take_run(self, i: int, summary: dict, state: dict) -> None:
        """Cell i's block known by its summary only (a benchmark_model run), with the device's state."""

    def take_cpu_share(self, share: float) -> None:
        """The share of the core the unit's process got."""


class _Group:
    """Per cell, per process: blocks (medians) and samples; what the stopping rule reads. The
    RoundSink of a unit's rounds."""

    def __init__(self, jobs: list[Job], protocol: Protocol, labels: list[str], on_progress):
        self.jobs, self.protocol, self.labels, self.on_progress = jobs, protocol, labels, on_progress
        self.blocks: list[list[list[float]]] = [[] for _ in jobs]
        self.samples: list[list[list[float]]] = [[] for _ in jobs]
        self.summaries: list[list[dict]] = [[] for _ in jobs]
        self.states: list[dict] = []
        self.block_runs: int | None = None  # invokes per block, where blocks came as rounds of invokes
        self.cpu_shares: list[float] = []   # per finished local process
        self.finished = 0                 # processes whose every round arrived
        self.walls: list[float] = []
        self.start = time.monotonic()
        self._shown = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def open_process(self) -> None:
        for per_cell in (self.blocks, self.samples):
            for p in per_cell:
                p.append([])

    def drop_unfinished(self) -> None:
        for per_cell in (self.blocks, self.samples):
            for p in per_cell:
                del p[self.finished:]
        del self.cpu_shares[self.finished:]

    def take_cpu_share(self, share: float) -> None:
        self.cpu_shares.append(share)

    def take_round(self, samples: list[list[float]]) -> None:
        self.block_runs = self.protocol.block_runs
        for i, s in enumerate(samples):
            self.samples[i][-1].extend(s)
            self.blocks[i][-1].append(statistics.median(s))
        if time.monotonic() - self._shown >= PROGRESS_S:
            self.show("timing")

    def take_run(self, i: int, summary: dict, state: dict) -> None:
        value = summary.get("median") if summary.get("median") is not None else summary.get("mean")
        if value is None:
            raise UserError(f"{self.jobs[i].variant}: its run printed neither a median nor a mean")
        self.blocks[i][-1].append(value)
        self.summaries[i].append(summary)
        self.states.append(state)

    def estimates(self) -> tuple[list[Estimate | None], list[tuple[int, int, Estimate | None]]]:
        stat = self.protocol.statistic
        cells = [blockstats.level(b, stat) for b in self.blocks]
        pairs = [(i, j, blockstats.ratio(self.blocks[i], self.blocks[j], stat))
                 for i in range(len(self.jobs)) for j in range(i + 1, len(self.jobs))]
        return cells, pairs

    def halves(self) -> list[float | None]:
        cells, pairs = self.estimates()
        return [e.half_pct if e else None for e in cells + [p for _, _, p in pairs]]

    def stop_reason(self) -> str | None:
        p = self.protocol
        if self.finished < p.processes:
            return None
        if not p.target_ci:
            return "processes"
        if all(h is not None and h <= p.target_ci for h in self.halves()):
            return "target"
        # a process cut short by the budget would be a unit of a few rounds, noisier than the rest
        if self.elapsed() + self.process_secs() > p.max_secs:
            return "max_secs"
        return "processes" if self.finished >= MAX_PROCESSES else None

    def process_secs(self) -> float:
        """What one process takes, start-up and warm-up included: as seen so far, else a guess."""
        p = self.protocol
        return statistics.fmean(self.walls) if self.walls else p.min_secs + p.warmup_secs + 1.0

    def budget(self) -> float:
        """Seconds the next process may take: the minimum processes share --max-secs."""
        left = max(0.0, self.protocol.max_secs - self.elapsed())
        return left / max(1, self.protocol.processes - self.finished)

    def eta(self) -> float | None:
        p, per = self.protocol, self.process_secs()
        more = max(0, p.processes - self.finished)
        halves = self.halves()
        if p.target_ci and self.finished:
            worst = max((h / p.target_ci if h is not None else 2.0) for h in halves) if halves else 0.0
            more = max(more, math.ceil(self.finished * worst ** 2) - self.finished)
        return min(more * per, max(0.0, p.max_secs - self.elapsed()))

    def show(self, phase: str) -> None:
        self._shown = time.monotonic()
        if self.on_progress is not None:
            cells, pairs = self.estimates()
            self.on_progress(Snapshot(self.labels, cells, pairs, self.finished, self.elapsed(),
                                      self.eta() if phase == "timing" else None, self.protocol.target_ci, phase,
                                      self.protocol.statistic))


def _unit(target, group: _Group) -> None:
    started = time.monotonic()
    target.time_unit(group.jobs, seed=group.finished, max_secs=group.budget(), sink=group)
    group.walls.append(time.monotonic() - started)


def _profiles(target, jobs: list[Job]) -> dict[int, tuple[list[OpRow], float | None]]:
    wanted = [i for i, j in enumerate(jobs) if j.per_layer and j.protocol.get("profile_runs")]
    return dict(zip(wanted, target.profile([jobs[i] for i in wanted]))) if wanted else {}


def _device_state(target, group: _Group, before: dict | None) -> dict:
    if not group.states:
        return {"before": before, "after": target.state()}
    first, last = group.states[0], group.states[-1]
    return {**last, "before": first.get("before"), "rounds": len(group.states),
            "cooldowns": [c for s in group.states for c in s.get("cooldowns", [])],
            "throttled": next((s["throttled"] for s in group.states if s.get("throttled")), None)}


def measure_jobs(jobs: list[Job], target, protocol: Protocol, *, labels: list[str],
                 on_progress: Callable[[Snapshot], None] | None = None) -> list[RawMeasurement]:
    """Every job measured in the same rounds; one RawMeasurement per job, in order. Ctrl-C or a
    lost device raises Interrupted with what the finished processes measured (none finished: the
    KeyboardInterrupt or DeviceLost itself)."""
    group = _Group(jobs, protocol, labels, on_progress)
    before = target.state()
    stopped_by, profiles, cause = None, {}, None
    try:
        while (stopped_by := group.stop_reason()) is None:
            group.open_process()
            _unit(target, group)
            group.finished += 1
            group.show("timing")
        group.show("profiling")
        profiles = _profiles(target, jobs)
    except (KeyboardInterrupt, DeviceLost) as e:
        if not group.finished:
            raise
        group.drop_unfinished()
        stopped_by = stopped_by or ("interrupted" if isinstance(e, KeyboardInterrupt) else "device lost")
        cause = e
    raws = _raws(jobs, target, protocol, group, before, stopped_by, profiles)
    if cause is not None:
        raise Interrupted(raws, cause)
    return raws


def _raws(jobs, target, protocol: Protocol, group: _Group, before, stopped_by: str, profiles
          ) -> list[RawMeasurement]:
    state = _device_state(target, group, before)
    # what each block is: a phone run's median, or its mean where benchmark_model printed no median
    block_value = "median" if all(s.get("median") is not None for per in group.summaries for s in per) else "mean"
    raws = []
    for i, job in enumerate(jobs):
        ops, profiled_ms = profiles.get(i, ([], None))
        blocks = group.blocks[i]
        raws.append(RawMeasurement(
            samples_ms=[ms for p in group.samples[i] for ms in p],
            process_medians_ms=[statistics.median(b) for b in blocks if b],
            summary=blockstats.pooled_summary(group.summaries[i]) if group.summaries[i] else None,
            ops=ops, profiled_run_ms=profiled_ms, device_state=state, blocks_ms=blocks,
            rounds={"block_runs": group.block_runs, "processes": group.finished,
                    "rounds": sum(len(b) for b in blocks), "stopped_by": stopped_by,
                    "elapsed_s": round(group.elapsed(), 2), "target_ci_pct": protocol.target_ci,
                    "block_value": block_value, **({"cpu_share": group.cpu_shares} if group.cpu_shares else {})}))
    return raws
