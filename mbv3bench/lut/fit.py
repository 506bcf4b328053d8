"""Where the sum of isolated blocks is not the network, from end-to-end measurements.

A block measured alone is not the block inside a network: each model pays the runtime's invoke
overhead, XNNPACK fuses and lays out neighbours, caches hold other data. Two corrections, fitted
on a few architectures measured end to end and stored in the table with how they were fitted:
- `affine`: measured = intercept + scale x sum (least squares): a per-model overhead and a
  uniform speed difference;
- `parts`: first each part's factor (stem, s1.1, s1.2, ..., classifier): its time inside the
  networks (the per-layer profiles of the end-to-end runs) over its table time, pooled over the
  fitted architectures; then the affine fit on the factored sums.
"""
from __future__ import annotations

import time

from ..core.errors import UserError
from ..core.results import Result
from ..zoo.spec import parse_variant
from .measuring import value_of
from .predict import Predictor, layer_names
from .stats import errors, line_fit

KINDS = ("affine", "parts")


def in_network(predictor: Predictor, result: Result) -> list[tuple[str, float, float]]:
    """(part, table ms, ms inside the measured network) of each block the run's per-layer profile
    has (per-layer times share out the median: scaled to the table's statistic)."""
    v, keys = predictor.keys(parse_variant(result.variant))
    scale = value_of(result, predictor.doc["statistic"])[0] / result.headline()[0]
    per_layer = {r.name: r.ms * scale for r in result.per_layer}
    return [(k[1], predictor.entries[k][0], per_layer[name])
            for name, k in zip(layer_names(v, len(keys)), keys) if name in per_layer]


def attribution(predictor: Predictor, results: list[Result]) -> dict:
    """Per part: its table time and its time inside the networks, summed over the runs with a
    per-layer profile, and what it adds to the error per network (table minus network: positive
    when the table over-predicts); plus the time no op accounts for (end to end minus layers)."""
    parts: dict[str, list[float]] = {}
    profiled = [r for r in results if r.ok and r.per_layer]
    for r in profiled:
        for part, table_ms, net_ms in in_network(predictor, r):
            acc = parts.setdefault(part, [0.0, 0.0, 0])
            acc[0] += table_ms
            acc[1] += net_ms
            acc[2] += 1
    rows = [{"part": p, "uses": int(n), "table_ms": t, "in_network_ms": m, "ratio": m / t if t else None,
             "error_ms_per_network": (t - m) / len(profiled)} for p, (t, m, n) in parts.items()]
    rows.sort(key=lambda row: -abs(row["error_ms_per_network"]))
    outside = [(r.headline()[0] - r.per_layer_sum_ms) * value_of(r, predictor.doc["statistic"])[0] / r.headline()[0]
               for r in profiled if r.per_layer_sum_ms is not None]
    return {"networks": len(profiled), "parts": rows,
            "outside_ops_ms": sum(outside) / len(outside) if outside else None}


def part_factors(predictor: Predictor, results: list[Result]) -> dict[str, float]:
    att = attribution(predictor, results)
    if not att["networks"]:
        raise UserError("--kind parts needs per-layer profiles of the end-to-end runs (profile runs > 0)")
    return {row["part"]: row["ratio"] for row in att["parts"] if row["ratio"]}


def fit(doc: dict, results: list[Result], kind: str, *, seed: int | None = None) -> dict:
    """The correction of the table from these end-to-end results (all of its space)."""
    if kind not in KINDS:
        raise UserError(f"unknown correction kind {kind!r}; allowed: {', '.join(KINDS)}")
    ok = [r for r in results if r.ok]
    if not ok:
        raise UserError("no end-to-end measurement succeeded: nothing to fit")
    raw = Predictor(doc, corrected=False)
    factors = part_factors(raw, ok) if kind == "parts" else {}
    factored = Predictor({**doc, "correction": {"intercept_ms": 0.0, "scale": 1.0, "factors": factors}})
    x = [factored.predict(r.variant).ms for r in ok]
    y = [value_of(r, doc["statistic"])[0] for r in ok]
    intercept, scale = line_fit(x, y)
    correction = {"kind": kind, "intercept_ms": intercept, "scale": scale, "factors": factors}
    fitted = Predictor({**doc, "correction": correction})
    before = errors([raw.predict(r.variant).ms for r in ok], y)
    after = errors([fitted.predict(r.variant).ms for r in ok], y)
    return {**correction,
            "fitted_on": {"n": len(ok), "seed": seed, "variants": [r.variant for r in ok],
                          "measurement_ids": [r.id for r in ok], "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
            "in_sample": {"before": before, "after": after}}
