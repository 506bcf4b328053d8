"""Which stored measurement stands for a (variant, format) cell on one device and runtime, what
produced it, and measuring the missing cells on the local device."""
from __future__ import annotations

import time

from ..core.errors import UserError
from ..core.registry import require_format as format_of
from ..core.results import Result
from ..measure.restate import restated


def _is_paper_protocol(r: Result) -> bool:
    """One thread with the runtime's default options: what the paper's tables and plots compare."""
    s = r.settings
    return r.threads in (1, None) and s.get("xnnpack", True) and s.get("ort_opt_level", "all") == "all"


class Measured:
    """The store's successful measurements of one device and runtime, per (variant, format): the
    paper's protocol (1 thread, default runtime options) when there is one, latest first; each
    read by `statistic` (measure/restate.py). `get` gives the latest, or the latest measured in the
    same rounds as another result, so a table's "relative" column is a paired ratio wherever the
    store has one."""

    def __init__(self, store, device: str, runtime: str, statistic: str, variants: list[str] | None = None):
        """`variants`: these only, with every measurement of each (not just the latest), so a row
        can be the one measured in the rounds of its table's first row."""
        self.device, self.runtime = device, runtime
        found: dict[tuple[str, str], list[Result]] = {}
        for r in store.measurements(device=device, runtime=runtime, variants=variants, every=variants is not None):
            if r.settings.get("metric", "time") != "time":   # an instruction count has no latency
                continue
            found.setdefault((r.variant, r.format), []).append(r)
        self.candidates: dict[tuple[str, str], list[Result]] = {}
        for key, rs in found.items():
            rs.sort(key=lambda r: (_is_paper_protocol(r), r.id or 0), reverse=True)
            best = _is_paper_protocol(rs[0])
            self.candidates[key] = [restated(r, statistic) for r in rs if _is_paper_protocol(r) == best]

    def get(self, variant: str, fmt: str, near: Result | None = None) -> Result | None:
        """The latest measurement of the cell; with `near`, the latest measured in its rounds if any."""
        rs = self.candidates.get((variant, fmt), [])
        group = (near.rounds or {}).get("group") if near is not None else None
        return next((r for r in rs if group and (r.rounds or {}).get("group") == group), rs[0] if rs else None)

    def best_first(self, variant: str, fmt: str, others: list[tuple[str, str]]) -> Result | None:
        """The measurement of (variant, fmt) measured in the same rounds as most of `others` (the
        latest of those): the first row a table's other rows are paired with."""
        def together(r: Result) -> int:
            group = (r.rounds or {}).get("group")
            return sum(1 for v, f in others if group and any((o.rounds or {}).get("group") == group
                                                              for o in self.candidates.get((v, f), [])))
        rs = self.candidates.get((variant, fmt), [])
        return max(rs, key=together) if rs else None   # max keeps the first (latest) of equals

    def missing(self, variants: list[str], fmt: str) -> list[str]:
        return [v for v in variants if self.get(v, fmt) is None]


def _span(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    lo, hi = min(values), max(values)
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def _statistic(results: list[Result]) -> str:
    return _span_text(r.headline()[1] for r in results)


def measured_on(results: list[Result]) -> str:
    days = sorted(time.strftime("%Y-%m-%d", time.localtime(r.created_at)) for r in results if r.created_at)
    if not days:
        return "at an unknown time"
    return days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"


def provenance(results: list[Result]) -> str:
    """One line on what produced these numbers: device, runtime, format, threads, core, runs, dates."""
    if not results:
        return "nothing measured"
    r0 = results[0]
    options = []
    if r0.runtime == "litert":
        options.append("XNNPACK " + _span_text("on" if r.settings.get("xnnpack", True) else "off" for r in results))
    if r0.runtime == "onnxruntime":
        options.append("graph optimisation " + _span_text(r.settings.get("ort_opt_level", "all") for r in results))
    noisy = sum(r.noisy for r in results)
    return (f"{r0.device} core {_span_text(r.core for r in results)}, {r0.runtime} "
            f"({', '.join(sorted({str(r.format) for r in results}))}{'; ' + ', '.join(options) if options else ''}), "
            f"{_span(r.threads for r in results)} thread(s), {_statistic(results)} of "
            f"{_span(r.n for r in results)} timed runs per cell, measured {measured_on(results)}"
            + (f"; {noisy} noisy cell(s) marked" if noisy else ""))


def _span_text(values) -> str:
    return "/".join(sorted({str(v) for v in values}))


def measure_missing(store, options, runtime: str, needs: list[tuple[str, str]], echo) -> int:
    """Measures the (variant, precision) cells the store lacks on the options' device
    (runner.MeasureOptions), headlined by their protocol's statistic; returns how many were measured."""
    device, statistic = options.target.device, options.protocol.statistic
    have = Measured(store, device, runtime, statistic)
    todo = [(v, p) for v, p in needs if have.get(v, format_of(runtime, p)) is None]
    if not todo:
        return 0
    from ..runner import plan_grid, run_grid
    from ..targets import open_target

    wanted = {(v, format_of(runtime, p)) for v, p in todo}
    cells = [c for c in plan_grid(sorted({v for v, _ in todo}), [runtime], sorted({p for _, p in todo}))
             if (c.variant, c.format) in wanted]
    echo(f"measuring {len(cells)} missing cell(s) on {device}/{runtime}: "
         + ", ".join(f"{c.variant} ({c.format})" for c in cells))

    def on_event(kind, cell, result):
        if kind in ("done", "error"):
            echo(f"  {kind}: {cell.variant} ({cell.format})" + (f": {result.error}" if kind == "error" else ""))

    target = open_target(options.target)
    try:
        run_grid(cells, target, options.protocol, options.settings, store, resume=True, on_event=on_event)
    finally:
        target.close()
    return len(cells)
