"""How the lut commands measure: every variant through the runner's grid (measure() is the one
call, so blocks are exported, cached, stored and resumed like any variant, on the local core or a
phone), artifacts exported ahead in parallel, results that look disturbed measured again, and
the statistic a table keeps.

On a host shared with other work, contention only ever slows an invoke down (another process on
the pinned core, a neighbour thrashing the cache), and it comes in bursts that can spoil a whole
measurement of a short block. So a table keeps, by default, the 10th percentile of each block's
timing blocks (runs of --block-runs invokes; `--statistic`, one definition with `run`'s:
core.registry STATISTICS, measure/blockstats.py): the runs nothing interrupted, what a block
costs inside a network on a quiet core. A measurement whose processes disagree (a burst spoilt
one of them) is taken again, up to --retries times, and the faster attempt kept; a wide spread
alone is not retried, the p10 already looks past it (under load nearly every measurement has one). `--statistic median` keeps the
median instead, for a quiet device. On a phone each benchmark_model run is one timing block.

Networks flip between speeds from one process to the next (here 12 and 24 ms for one network, each
with a tight spread, while blocks stay put; probably the cache and memory bandwidth a VM shares
with its neighbours, which a network's weights need and a block's do not), so validation and
fitting measure each network in several rounds, at different times in fresh processes, and keep
the fastest: the network as the table's blocks, cache-resident, see it. A block measured again
agrees with itself to a few percent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..core.errors import UserError
from ..core.results import Result
from ..export.parallel import export_all
from ..measure.protocol import PROCESS_LIMIT, Protocol
from ..measure.restate import restated
from ..runner import Settings, plan_grid, run_grid
from ..store import Store


@dataclass(frozen=True)
class Measuring:
    """Where and how: what a table was built with, and what checking it must use again."""
    target: object
    runtime: str
    precision: str
    protocol: Protocol
    settings: Settings


def measure(variants: list[str], how: Measuring, store: Store, *, resume: bool,
            on_event: Callable = lambda *a: None, on_progress: Callable | None = None) -> list[Result]:
    """The one place the lut commands measure: the runner's grid over the variants."""
    cells = plan_grid(variants, [how.runtime], [how.precision])
    if not cells:
        raise UserError(f"runtime {how.runtime} has no {how.precision} format")
    return run_grid(cells, how.target, how.protocol, how.settings, store, resume=resume, on_event=on_event,
                    on_progress=on_progress, independent=True)


def failed_line(results: list[Result]) -> str | None:
    failed = [r for r in results if not r.ok]
    if not failed:
        return None
    return f"{len(failed)} measurement(s) failed, e.g. {failed[0].variant}: {failed[0].error}"


def value_of(result: Result, statistic: str) -> tuple[float, tuple[float | None, float | None]]:
    """The result's latency by the statistic (from its blocks; as recorded where it has none), and
    its 95% interval."""
    read = restated(result, statistic)
    return read.headline()[0], read.latency.ci95


def unsettled(result: Result) -> bool:
    """Failed, or its processes' medians differ by more than the protocol calls noisy."""
    medians = result.process_medians_ms or []
    return not result.ok or (len(medians) > 1 and max(medians) > (1 + PROCESS_LIMIT) * min(medians))


def measure_settled(variants: list[str], how: Measuring, store: Store, *, resume: bool, statistic: str,
                    retries: int, rounds: int = 1, export_jobs: int = 1,
                    on_exported: Callable[[str], None] = lambda v: None,
                    on_event: Callable = lambda *a: None, on_progress: Callable | None = None) -> list[Result]:
    """Each variant's result, in order: exported first (export_all), measured in `rounds` passes
    over all of them (each pass at another time, in fresh processes), what came out unsettled
    measured again, up to `retries` times; the fastest attempt by the statistic kept."""
    from ..core.registry import format_of

    fmt = format_of(how.runtime, how.precision) or ""
    export_all([(v, fmt) for v in variants], export_jobs, lambda v, f: on_exported(v))

    def faster(r: Result, than: Result) -> bool:
        return r.ok and (not than.ok or value_of(r, statistic)[0] < value_of(than, statistic)[0])

    best = dict(zip(variants, measure(variants, how, store, resume=resume, on_event=on_event,
                                                on_progress=on_progress)))

    def again(todo: list[str]) -> None:
        for v, r in zip(todo, measure(todo, how, store, resume=False, on_event=on_event,
                                          on_progress=on_progress)):
            if faster(r, best[v]):
                best[v] = r

    for _ in range(rounds - 1):
        again(variants)
    for _ in range(retries):
        todo = [v for v, r in best.items() if unsettled(r)]
        if not todo:
            break
        again(todo)
    return [best[v] for v in variants]
