"""A result read by another statistic than the one it was measured with.

A result keeps its blocks (`blocks_ms`: each block's median, per process, in round order), and every
statistic is a quantile of them with its interval made from the same units (blockstats.level), so a
result measured under the median is read by its p10 exactly as if it had been measured so, apart
from when measuring stopped (--target-ci looked at the statistic it was measured with). `table`,
`plot`, `report`, `compare` and the lookup tables read stored and saved results through here.
Results without blocks (measured before rounds, or an ingested log) can only be read as recorded.
"""
from __future__ import annotations

from dataclasses import replace

from ..core.results import Result
from . import blockstats


def restated(result: Result, statistic: str) -> Result:
    """The result headlined by `statistic` (value and interval from its blocks; what it carries
    besides stays as measured), or as recorded where it has no blocks to take it from: the
    caller reads `.statistic` to know which."""
    if result.statistic == statistic or not any(result.blocks_ms or []):
        return result
    est = blockstats.level(result.blocks_ms, statistic)
    out = replace(result, statistic=statistic, latency=replace(result.latency, value=est.value, ci95=est.ci95),
                  ratios=[])   # the stored ratios are by the recorded statistic; paired() makes one by this one
    # per-layer times share out the headline (runner.result_of): shared out of the new one
    scale = out.headline()[0] / result.headline()[0] if result.headline()[0] else 1.0
    return replace(out, per_layer=[replace(row, ms=row.ms * scale) for row in result.per_layer],
                   per_layer_sum_ms=result.per_layer_sum_ms * scale if result.per_layer_sum_ms is not None else None)


def paired(r: Result, other: Result) -> blockstats.Estimate | None:
    """r / other by r's statistic from their paired blocks, where the two were measured in the same
    rounds (one group: the same processes and rounds); None otherwise."""
    group = (r.rounds or {}).get("group")
    if group is None or group != (other.rounds or {}).get("group") or not r.blocks_ms or not other.blocks_ms:
        return None
    return blockstats.ratio(r.blocks_ms, other.blocks_ms, r.statistic)
