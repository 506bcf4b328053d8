"""How often `compare --ab` cries wolf, and how often it catches a real slowdown, on this host.

Scenarios, each `--reps` times, by time and by instructions:
  same      mobilenet_v3_small vs itself                      (false alarms)
  naive     mobilenet_v3_small vs ...:hswish=naive            (~10% slower on LiteRT)
  wider     mobilenet_v3_small vs ...:width=1.05              (~3-5% slower)
Prints a Markdown table (verdict counts, median ratio, its spread, seconds per check) for README.
Usage: python benchmarks/false_alarms.py [--reps 20] [--metrics time,instructions]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

SCENARIOS = {"same": ("mobilenet_v3_small", "mobilenet_v3_small"),
             "naive": ("mobilenet_v3_small", "mobilenet_v3_small:hswish=naive"),
             "wider": ("mobilenet_v3_small", "mobilenet_v3_small:width=1.05")}


def check(a: str, b: str, metric: str, db: str) -> tuple[dict, float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mbv3bench.cli", "compare", "--ab", a, b, "--metric", metric,
                           "--format", "json", "--db", db], capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"compare failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)["comparisons"][0], time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--metrics", default="time,instructions")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for metric in args.metrics.split(","):
            for name in args.scenarios.split(","):
                a, b = SCENARIOS[name]
                found = [check(a, b, metric, f"{tmp}/{metric}.sqlite") for _ in range(args.reps)]
                verdicts = [c["verdict"] for c, _ in found]
                ratios = [c["ratio"] for c, _ in found]
                rows.append((metric, name, verdicts.count("regression"), verdicts.count("unchanged"),
                             verdicts.count("improvement"), statistics.median(ratios), min(ratios), max(ratios),
                             statistics.median(s for _, s in found)))
                print(f"{metric} {name}: {verdicts}", file=sys.stderr)
    print(f"| metric | A vs B | regression | unchanged | improvement | median B/A | B/A range | s per check |\n"
          "|---|---|---|---|---|---|---|---|")
    for m, name, reg, unc, imp, med, lo, hi, secs in rows:
        print(f"| {m} | {name} | {reg}/{args.reps} | {unc}/{args.reps} | {imp}/{args.reps} | {med:.4f} | "
              f"{lo:.4f}-{hi:.4f} | {secs:.0f} |")


if __name__ == "__main__":
    main()
