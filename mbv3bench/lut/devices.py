"""A table built on several devices of one model (a farm): phones of one model differ by a few
percent, so each device measures one reference block, each block's time is divided by the speed
of the device that measured it (its reference time over the first device's), and the table says
which device measured each block, each device's speed and their spread.

The reference is the table's costliest block (most MAdds): the longest, so its ratio carries
the least timing noise. A block whose device has no reference (it left before measuring it, or
the block came from the store from devices no longer in the farm) keeps its time, marked."""
from __future__ import annotations

from ..core.results import Result
from ..runner import measure_on_each_device, plan_grid
from ..store import Store
from .measuring import Measuring, value_of


def label_of(result: Result) -> str | None:
    """The farm device that measured a result, as FarmDevice.label names it; None: no farm's."""
    return (result.device_state or {}).get("device_label")


def reference_block(entries: dict) -> str:
    return max(entries, key=lambda vid: (entries[vid]["madds"] or 0, vid))


def measure_speeds(reference: str, how: Measuring, store: Store, *, resume: bool, statistic: str) -> list[dict]:
    """Each device's time for the reference block and its speed relative to the first device's."""
    (cell,) = plan_grid([reference], [how.runtime], [how.precision])
    results = measure_on_each_device(cell, how.target, how.protocol, how.settings, store, resume=resume)
    times = [value_of(r, statistic)[0] for r in results]
    state = [r.device_state or {} for r in results]
    return [{"device": label_of(r), "serial": s.get("serial"), "host": s.get("host"), "core": s.get("core"),
             "reference_ms": ms, "speed": ms / times[0], "measurement_id": r.id}
            for r, s, ms in zip(results, state, times)]


def corrected(entries: dict, labels: dict[str, str | None], speeds: list[dict]) -> dict:
    """The entries with each block's times divided by its device's speed (`measured_ms` keeps what
    was measured; `speed` is null where the device has none)."""
    speed_of = {s["device"]: s["speed"] for s in speeds}
    out = {}
    for vid, e in entries.items():
        speed = speed_of.get(labels[vid])
        if speed is None:
            out[vid] = {**e, "speed": None}
            continue
        out[vid] = {**e, "ms": e["ms"] / speed, "ci95_ms": [None if x is None else x / speed for x in e["ci95_ms"]],
                    "measured_ms": e["ms"], "speed": speed}
    return out


def spread_pct(speeds: list[dict]) -> float:
    values = [s["speed"] for s in speeds]
    return 100 * (max(values) / min(values) - 1)
