"""How well the numbers hold still on this host: the pooled method `run` used before against rounds.

Both methods measure MobileNetV3-Small fused and naive h-swish on LiteRT, repeat after repeat,
alternating (pooled, rounds, pooled, ...) so both meet the same host:
- pooled: each cell alone, one after the other, in --processes fresh processes of >= --runs
  runs and >= --min-secs each; samples pooled; the order-statistic interval of the median.
- rounds: both cells interleaved in rounds, `run`'s default: processes added until every
  interval (cells and ratio) is within +-2% or 30 s are up; block statistics.
Then, for rounds, how long it takes to bring every interval to +-1%.

Then the statistics (core.registry STATISTICS: median, p10, min of the block medians): `run`'s
default measurement of the same two cells --statistic-runs times, --gap-secs apart (the host's
level moves over minutes), each run read by every statistic from the same blocks
(measure/restate.py), so the statistics differ only in what they take of the data.

Printed (markdown): per method and cell, the spread of the repeat medians, how often a repeat's
median falls inside another repeat's interval, the mean half-width, and the naive/fused ratio of
each repeat with its spread; per statistic and cell, each run's value, their spread, how many
runs fall inside the previous run's 95% interval, the mean half-width, and the same for the
paired ratio by that statistic.

    .venv/bin/python benchmarks/stability.py [--repeats N] [--one-percent-runs N]
        [--statistic-runs N] [--gap-secs S] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

VARIANTS = ("mobilenet_v3_small", "mobilenet_v3_small:hswish=naive")


def _subjects():
    from mbv3bench.runner import Cell, variant_subject

    return [variant_subject(Cell(v, "litert", "tflite")) for v in VARIANTS]


def pooled(target, subjects, protocol, settings) -> dict:
    """The method `run` used before: cell after cell, samples pooled."""
    from mbv3bench.measure.protocol import statistics as pooled_statistics
    from mbv3bench.runner import measure_cells

    cells, shares = [], []
    for s in subjects:
        raw = measure_cells([s], target, protocol, settings)[0]
        st = pooled_statistics(raw.samples_ms, raw.process_medians_ms)
        cells.append({"median": st["median"], "ci95": st["ci95"]})
        shares += raw.rounds["cpu_share"]
    return {"cells": cells, "ratio": cells[1]["median"] / cells[0]["median"], "ratio_ci95": None,
            "cpu_share": min(shares)}


def rounds(target, subjects, protocol, settings) -> dict:
    from mbv3bench.runner import measure_cells, results_of, settings_of

    start = time.monotonic()
    raws = measure_cells(subjects, target, protocol, settings)
    results = results_of(raws, subjects, device=target.name, core=target.core,
                         settings=[settings_of(s, settings, protocol, target.core) for s in subjects])
    q = results[1].ratios[0]
    return {"cells": [{"median": r.latency.median, "ci95": list(r.latency.ci95)} for r in results],
            "ratio": q["ratio"], "ratio_ci95": q["ci95"], "secs": time.monotonic() - start,
            "processes": raws[0].rounds["processes"], "stopped_by": raws[0].rounds["stopped_by"],
            "cpu_share": min(raws[0].rounds["cpu_share"]),
            "half_pct": max(_half_pct(ci) for ci in [r.latency.ci95 for r in results] + [q["ci95"]])}


def _half_pct(ci) -> float:
    """Half-width in percent on the log scale (as measure/blockstats.py)."""
    return 100 * ((ci[1] / ci[0]) ** 0.5 - 1)


def summarize(repeats: list[dict]) -> dict:
    out = {}
    for i, v in enumerate(VARIANTS):
        meds = [r["cells"][i]["median"] for r in repeats]
        cis = [r["cells"][i]["ci95"] for r in repeats]
        inside = [lo <= meds[j] <= hi for k, (lo, hi) in enumerate(cis) for j in range(len(meds)) if j != k]
        out[v] = {"medians": meds, "spread_pct": 100 * (max(meds) - min(meds)) / statistics.median(meds),
                  "coverage": sum(inside) / len(inside),
                  "half_pct": statistics.fmean(_half_pct(c) for c in cis)}
    ratios = [r["ratio"] for r in repeats]
    out["ratio"] = {"values": ratios, "spread_pct": 100 * (max(ratios) - min(ratios)) / statistics.median(ratios)}
    out["cpu_share"] = [r["cpu_share"] for r in repeats]
    cis = [r["ratio_ci95"] for r in repeats]
    if all(cis):
        inside = [lo <= ratios[j] <= hi for k, (lo, hi) in enumerate(cis) for j in range(len(ratios)) if j != k]
        out["ratio"]["coverage"] = sum(inside) / len(inside)
    return out


def table(summary: dict, one_percent: list[dict]) -> str:
    lines = ["| method | cell | repeat medians (ms) | spread | a repeat's median inside another's 95% CI | "
             "mean CI half-width |", "|---|---|---|---|---|---|"]
    for method, s in summary.items():
        for v in VARIANTS:
            c = s[v]
            lines.append(f"| {method} | {v} | {', '.join(f'{m:.3f}' for m in c['medians'])} | {c['spread_pct']:.1f}% | "
                         f"{100 * c['coverage']:.0f}% | +-{c['half_pct']:.2f}% |")
    lines += ["", "| method | naive / fused per repeat | spread | a repeat's ratio inside another's 95% CI | "
              "least share of the core a worker got, per repeat |", "|---|---|---|---|---|"]
    for method, s in summary.items():
        r = s["ratio"]
        cov = f"{100 * r['coverage']:.0f}%" if "coverage" in r else "no interval"
        lines.append(f"| {method} | {', '.join(f'{x:.3f}' for x in r['values'])} | {r['spread_pct']:.1f}% | {cov} | "
                     f"{', '.join(f'{100 * x:.0f}%' for x in s['cpu_share'])} |")
    lines += ["", "| rounds to +-1% (cells and ratio) | seconds | processes | widest half-width | stopped by |",
              "|---|---|---|---|---|"]
    for k, r in enumerate(one_percent, 1):
        lines.append(f"| run {k} | {r['secs']:.0f} | {r['processes']} | +-{r['half_pct']:.2f}% | {r['stopped_by']} |")
    return "\n".join(lines)


def by_statistic(target, subjects, protocol, settings) -> dict:
    """One `run` of the cells, read by every statistic: {statistic: {cells, ratio, ratio_ci95}}."""
    from mbv3bench.core.registry import STATISTICS
    from mbv3bench.measure.restate import paired, restated
    from mbv3bench.runner import measure_cells, results_of, settings_of

    raws = measure_cells(subjects, target, protocol, settings)
    results = results_of(raws, subjects, device=target.name, core=target.core,
                         settings=[settings_of(s, settings, protocol, target.core) for s in subjects])
    out = {"cpu_share": min(raws[0].rounds["cpu_share"]), "processes": raws[0].rounds["processes"],
           "at": time.time()}
    for stat in STATISTICS:
        fused, naive = (restated(r, stat) for r in results)
        q = paired(naive, fused)
        out[stat] = {"cells": [{"value": r.headline()[0], "ci95": list(r.latency.ci95)} for r in (fused, naive)],
                     "ratio": q.value, "ratio_ci95": list(q.ci95)}
    return out


def _repeats(values: list[float], cis: list) -> dict:
    """Spread of the runs' values, and how many runs fall inside the run before's interval."""
    inside = [lo <= v <= hi for v, (lo, hi) in zip(values[1:], cis[:-1])]
    return {"values": values, "spread_pct": 100 * (max(values) - min(values)) / statistics.median(values),
            "inside_previous": sum(inside), "compared": len(inside),
            "half_pct": statistics.fmean(_half_pct(c) for c in cis)}


def summarize_statistics(runs: list[dict]) -> dict:
    from mbv3bench.core.registry import STATISTICS

    out = {}
    for stat in STATISTICS:
        out[stat] = {v: _repeats([r[stat]["cells"][i]["value"] for r in runs], [r[stat]["cells"][i]["ci95"] for r in runs])
                     for i, v in enumerate(VARIANTS)}
        out[stat]["ratio"] = _repeats([r[stat]["ratio"] for r in runs], [r[stat]["ratio_ci95"] for r in runs])
    return out


def statistics_table(summary: dict, runs: list[dict]) -> str:
    lines = ["| statistic | cell | value per run | spread | inside the previous run's 95% CI | mean CI half-width |",
             "|---|---|---|---|---|---|"]
    for stat, s in summary.items():
        for name, c in s.items():
            unit = "" if name == "ratio" else " ms"
            lines.append(f"| {stat} | {'naive / fused' if name == 'ratio' else name} | "
                         f"{', '.join(f'{x:.3f}' for x in c['values'])}{unit} | {c['spread_pct']:.1f}% | "
                         f"{c['inside_previous']}/{c['compared']} | +-{c['half_pct']:.2f}% |")
    start = runs[0]["at"]
    lines += ["", "runs at " + ", ".join(f"{r['at'] - start:.0f} s" for r in runs) + "; least share of the core a "
              "worker got, per run: " + ", ".join(f"{100 * r['cpu_share']:.0f}%" for r in runs)
              + "; processes per run: " + ", ".join(str(r["processes"]) for r in runs)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--one-percent-runs", type=int, default=2)
    ap.add_argument("--one-percent-max-secs", type=float, default=90.0)
    ap.add_argument("--statistic-runs", type=int, default=5, help="Runs read by every statistic (0: none).")
    ap.add_argument("--gap-secs", type=float, default=60.0, help="Seconds from one such run's start to the next's.")
    ap.add_argument("--json", help="Also write every number here.")
    args = ap.parse_args()

    from mbv3bench.measure.protocol import Protocol
    from mbv3bench.runner import Settings
    from mbv3bench.targets import TargetOptions, open_target

    target = open_target(TargetOptions("local"))
    subjects = _subjects()
    settings = Settings(per_layer=False)
    old = Protocol(target_ci=0)          # the old defaults: 3 processes of >= 50 runs and >= 1 s per cell
    new = Protocol()                     # run's defaults now
    started = time.monotonic()
    runs: dict[str, list[dict]] = {"pooled": [], "rounds": []}
    for k in range(args.repeats):
        runs["pooled"].append(pooled(target, subjects, old, settings))
        runs["rounds"].append(rounds(target, subjects, new, settings))
        print(f"repeat {k + 1}/{args.repeats}: pooled ratio {runs['pooled'][-1]['ratio']:.3f}, rounds ratio "
              f"{runs['rounds'][-1]['ratio']:.3f} ({time.monotonic() - started:.0f} s)", flush=True)
    tight = Protocol(target_ci=1.0, max_secs=args.one_percent_max_secs)
    one_percent = [rounds(target, subjects, tight, settings) for _ in range(args.one_percent_runs)]
    by_stat = []
    for k in range(args.statistic_runs):
        if by_stat:
            time.sleep(max(0.0, by_stat[0]["at"] + k * args.gap_secs - time.time()))
        by_stat.append(by_statistic(target, subjects, new, settings))
        print(f"statistics run {k + 1}/{args.statistic_runs}: " + ", ".join(
            f"{stat} {by_stat[-1][stat]['cells'][0]['value']:.3f} ms" for stat in ("median", "p10", "min"))
            + f" ({time.monotonic() - started:.0f} s)", flush=True)
    summary = {method: summarize(r) for method, r in runs.items() if r}
    device = target.describe()
    print(f"\n{device['cpu_model']}, core {device['core']}, LiteRT (XNNPACK), {args.repeats} repeats per method, "
          f"{args.statistic_runs} runs by statistic, {time.monotonic() - started:.0f} s in all\n")
    if summary or one_percent:
        print(table(summary, one_percent))
    stat_summary = summarize_statistics(by_stat) if len(by_stat) > 1 else None
    if stat_summary:
        print("\n" + statistics_table(stat_summary, by_stat))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "runs": runs, "summary": summary, "one_percent": one_percent,
                       "by_statistic": by_stat, "statistics": stat_summary}, f, indent=1)


if __name__ == "__main__":
    main()
