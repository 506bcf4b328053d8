"""The tables `run` and `profile` print: each cell's numbers with what produced them, and the
paired ratios of the cells measured together."""
from __future__ import annotations

import math

from rich.table import Table

from ..core.registry import SHARED_WORKER_RUNTIMES
from ..core.output import num
from ..core.results import Result


def where_measured(device: dict) -> str:
    """The device (a target's describe()) as a header names it: a farm by its devices."""
    if device.get("kind") == "farm":   # each device pins its own core; which measured what is per result
        labels = ", ".join(d["label"] for d in device.get("devices", []))
        return (f"{device['name']} on the farm at {device['farm']} ({len(device.get('devices', []))} device(s): "
                f"{labels}; each on the core its join pinned)")
    where = device.get("cpu_model") or device.get("model") or device["name"]
    return f"{device['name']} ({where}), core {device.get('core')}"


def describe(device: dict, protocol, threads: int, metric: str = "time") -> str:
    """One line on how the numbers below were measured."""
    place = where_measured(device)
    if metric == "instructions":
        return (f"{place}, {threads} thread(s); instructions retired "
                "inside each invoke (the counter is named per row), the first invokes dropped as warm-up")
    local = device.get("device_kind", device.get("kind")) == "local"
    block = f"blocks of {protocol.block_runs} invokes" if local else "one benchmark_model run per cell"
    until = (f"until every 95% interval is within +-{protocol.target_ci:g}% or {protocol.max_secs:g} s per group"
             if protocol.target_ci else f"{protocol.max_secs:g} s per group at most")
    return (f"{place}, {threads} thread(s); the cells of one process "
            f"({', '.join(SHARED_WORKER_RUNTIMES)} share one; others, one each) interleaved in rounds ({block}), >= {protocol.runs} runs and >= {protocol.min_secs:g} s per "
            f"{'process' if local else 'run'} after >= {protocol.warmup_runs} warm-up runs, >= {protocol.processes} "
            f"{'processes' if local else 'rounds'}, {until}; each cell by the {protocol.statistic} of its "
            f"{'block medians' if local else 'runs'}")


def _note(r: Result) -> str:
    return "; ".join(x for x in ([("noisy: " + r.noisy_reason) if r.noisy else ""]
                                 + (["resumed from store"] if r.resumed else []) + r.notes) if x)


def _interval(lo, hi) -> str:
    """The interval and its half-width on the log scale it was made on (as measure/blockstats.py)."""
    if lo is None or hi is None:
        return "n/a"
    return f"{lo:.3f}-{hi:.3f} (+-{100 * (math.sqrt(hi / lo) - 1):.1f}%)" if lo > 0 else f"{lo:.3f}-{hi:.3f}"


def results_table(results: list[Result], title: str) -> Table:
    if any(r.instructions for r in results):
        return _instructions_table(results, title)
    table = Table(title=title)
    shown = _statistic(results)
    for col in ("variant", "runtime", "format", f"{shown} ms", "95% CI", "n", "MAdds (M)", "GMAC/s",
                "layers sum / e2e", "note"):
        table.add_column(col, justify="left" if col in ("variant", "runtime", "format", "note") else "right")
    for r in results:
        if not r.ok:
            table.add_row(r.variant, r.runtime, r.format, "-", "-", "-", "-", "-", "-", f"[red]failed: {r.error}")
            continue
        ms, stat = r.headline()
        gmacs = f"{r.madds / ms / 1e6:.2f}" if r.madds and ms else "n/a"
        ratio = f"{r.per_layer_sum_ms / ms:.2f}" if r.per_layer_sum_ms and ms else "not profiled"
        table.add_row(r.variant, r.runtime, r.format, num(ms) + ("" if stat == shown else f" ({stat})"),
                      _interval(*r.latency.ci95), num(r.n, "d"), num(r.madds / 1e6 if r.madds else None, ".1f"),
                      gmacs, ratio, _note(r))
    return table


def _statistic(results: list[Result]) -> str:
    """What the results are headlined by (one run measures every cell by one statistic)."""
    return next((r.headline()[1] for r in results if r.ok), "median")


def _instructions_table(results: list[Result], title: str) -> Table:
    table = Table(title=title)
    for col in ("variant", "runtime", "format", "instructions / invoke", "counter", "invokes counted", "note"):
        table.add_column(col, justify="right" if col in ("instructions / invoke", "invokes counted") else "left")
    for r in results:
        if not r.ok:
            table.add_row(r.variant, r.runtime, r.format, "-", "-", "-", f"[red]failed: {r.error}")
            continue
        i = r.instructions or {}
        table.add_row(r.variant, r.runtime, r.format, f"{i.get('per_invoke', 0):,}", str(i.get("counter")),
                      num(i.get("invokes"), "d"), "; ".join(filter(None, [i.get("note"), _note(r)])))
    return table


def ratios_table(results: list[Result]) -> Table | None:
    """Each pair measured together, once: a / b from their paired blocks."""
    table = Table(title="paired ratios of cells measured together (same rounds, same processes; 95% interval and "
                        "p of a t test across the processes' log ratios)")
    for col in ("a", "b", "a / b", "by the", "95% CI", "p", "units"):
        table.add_column(col, justify="left" if col in ("a", "b", "units") else "right")
    for k, r in enumerate(results):
        later = {(x.variant, x.format) for x in results[k + 1:]}
        for q in r.ratios:
            vs = q["vs"]
            if (vs["variant"], vs["format"]) in later:
                p = q["p_value"]
                table.add_row(f"{r.variant} ({r.format})", f"{vs['variant']} ({vs['format']})", f"{q['ratio']:.4f}",
                              q.get("statistic", "median"), _interval(*q["ci95"]), "n/a" if p is None else f"{p:.2g}",
                              f"{q['units']} {'processes' if q['unit'] == 'process' else 'segments'}")
    return table if table.row_count else None
