"""The lookup table: every distinct block of a space measured alone, as one JSON document.

    {"schema": "mbv3bench-lut/1", "space", "spec_sha256", "resolutions", "runtime", "precision",
     "format", "device": {...}, "tool_versions": {...}, "protocol": {...}, "settings": {...},
     "statistic": "p10" | "median" | "min", "retries",   # of each block's timed runs of --block-runs invokes
     "build": {"seconds", "export_jobs", "blocks", "measured", "from_store", "git_rev", "created_at"},
     "blocks": {"<block variant ID>": {"ms", "ci95_ms": [lo, hi],     # by the table's statistic
                                       "median_ms", "mean_ms", "std_ms", "n", "noisy", "madds",
                                       "ofa_key", "ofa_share", "measurement_id"}},
     "correction": null | {...}}                                       # fit.fit

How blocks are measured: measuring.py.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import fields
from pathlib import Path
from typing import Callable

from ..core.errors import UserError
from ..core.output import dumps, write_atomic
from ..core.registry import check_precision, check_statistic, format_of
from ..core.results import Result
from ..export.artifacts import exporter_versions
from ..measure.protocol import Protocol
from ..runner import Settings
from ..store import Store, git_rev
from ..zoo.spec import spec_path
from .blocks import describe_blocks, distinct_blocks, space_of
from .measuring import Measuring, failed_line, measure_settled, value_of

SCHEMA = "mbv3bench-lut/1"
MAX_TABLE_BYTES = 16 << 20   # a table of 4 resolutions of OFA is ~0.5 MB


def plan(space: str, resolutions: list[int]) -> list[tuple]:
    """(key, variant ID, layer, OFA name) of every block to measure, deduplicated, in network order."""
    space_of(space)
    keys = list(dict.fromkeys(k for res in resolutions for k in distinct_blocks(space, res)))
    return describe_blocks(keys)


def entry(result: Result, ofa, statistic: str) -> dict:
    lat = result.latency
    ms, ci = value_of(result, statistic)
    return {"ms": ms, "ci95_ms": list(ci), "median_ms": lat.median, "mean_ms": lat.mean, "std_ms": lat.std,
            "n": result.n, "noisy": result.noisy, "madds": result.madds, "ofa_key": ofa.key, "ofa_share": ofa.share,
            "measurement_id": result.id, **_measured_by(result)}


def _measured_by(result: Result) -> dict:
    """Which of a farm's devices measured the block (a single device's table names it once, in "device")."""
    state = result.device_state or {}
    if "farm_device" not in state:
        return {}
    return {"measured_by": {"device": state.get("device_label"), "serial": state.get("serial"),
                            "host": state.get("host"), "core": state.get("core")}}


def build(space: str, resolutions: list[int], how: Measuring, store: Store, *, resume: bool,
          retries: int = 1, export_jobs: int = 1,
          on_exported: Callable[[str], None] = lambda v: None, on_event: Callable = lambda *a: None,
          on_progress: Callable | None = None) -> dict:
    """Exports, then measures, every block (what the store has for the same settings is taken
    from it with resume) and returns the table; raises when a block failed (what finished stays
    stored)."""
    check_precision(how.precision)
    statistic = check_statistic(how.protocol.statistic)
    blocks = plan(space, resolutions)
    started = time.time()
    results = measure_settled([vid for _, vid, _, _ in blocks], how, store, resume=resume, statistic=statistic,
                              retries=retries, export_jobs=export_jobs, on_exported=on_exported, on_event=on_event,
                              on_progress=on_progress)
    failed = failed_line(results)
    if failed:
        raise UserError(f"{failed}; the others are stored: run again with --resume")
    entries = {vid: entry(r, ofa, statistic) for (_, vid, _, ofa), r in zip(blocks, results)}
    return {
        "schema": SCHEMA, "space": space,
        "spec_sha256": hashlib.sha256(spec_path(space).read_bytes()).hexdigest(),
        "resolutions": sorted(set(resolutions)), "runtime": how.runtime, "precision": how.precision,
        "format": format_of(how.runtime, how.precision), "device": how.target.describe(),
        "tool_versions": exporter_versions(), "protocol": how.protocol.as_dict(),
        "settings": {k: v for k, v in results[0].settings.items() if k != "protocol"}, "statistic": statistic,
        "retries": retries,
        "build": {"seconds": round(time.time() - started, 1), "export_jobs": export_jobs, "blocks": len(results),
                  "measured": sum(not r.resumed for r in results), "from_store": sum(r.resumed for r in results),
                  "git_rev": git_rev(), "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        "blocks": entries, "correction": None,
        **_per_device(entries, blocks, results, how, store, resume=resume, statistic=statistic),
    }


def _per_device(entries: dict, blocks, results: list[Result], how: Measuring, store: Store, *, resume: bool,
                statistic: str) -> dict:
    """On a target of several devices: each device's speed by one reference block, and the blocks
    corrected for it (lut/devices.py); nothing on one device."""
    if not how.target.devices():
        return {}
    from . import devices

    reference = devices.reference_block(entries)
    speeds = devices.measure_speeds(reference, how, store, resume=resume, statistic=statistic)
    labels = {vid: devices.label_of(r) for (_, vid, _, _), r in zip(blocks, results)}
    return {"blocks": devices.corrected(entries, labels, speeds),
            "devices": {"reference_block": reference, "speeds": speeds, "spread_pct": devices.spread_pct(speeds)}}


def load(path: str | Path) -> dict:
    """A table read where it is read: bounded, strict, checked against lut-v1.schema.json and for
    what a schema cannot say (intervals in order, block IDs of the table's space), every problem
    one line naming the file and the key."""
    from ..core.documents import at, check_schema, read_json
    from ..zoo.spec import parse_variant

    doc = read_json(path, MAX_TABLE_BYTES, "lookup table")
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise UserError(f"{path}: not a mbv3bench lookup table (schema {SCHEMA!r}); make one with `mbv3bench lut build`")
    check_schema(doc, "lut-v1.schema.json", path)
    for vid, b in doc["blocks"].items():
        lo, hi = b["ci95_ms"]
        if lo is not None and hi is not None and not lo <= b["ms"] <= hi:
            raise at(path, ("blocks", vid, "ci95_ms"), f"[{lo:g}, {hi:g}] does not hold the block's ms {b['ms']:g}")
        try:
            v = parse_variant(vid)
        except UserError as e:
            raise at(path, ("blocks", vid), str(e)) from None
        if v.name != doc["space"] or v.get("block") is None:
            raise at(path, ("blocks", vid), f"not a block of {doc['space']} (expected {doc['space']}:block=...)")
    return doc


def save(path: str | Path, doc: dict, what: str = "file") -> None:
    write_atomic(path, dumps(doc) + "\n", what)


def how_of(doc: dict, target) -> Measuring:
    """The measuring a table was built with, again (validate and fit compare like with like)."""
    s = doc["settings"]
    known = {f.name for f in fields(Protocol)}   # a newer version's table may carry more
    protocol = Protocol(**{**{k: v for k, v in doc["protocol"].items() if k in known},
                           "statistic": doc["statistic"]}).validate()
    return Measuring(target, doc["runtime"], doc.get("precision", "fp32"), protocol,
                     Settings(threads=s.get("threads", 1), xnnpack=s.get("xnnpack", True),
                              ort_opt_level=s.get("ort_opt_level", "all")))


# ---- exports -----------------------------------------------------------------------------------

def ofa_table(doc: dict) -> dict:
    """Once-for-All's LatencyTable format: key -> {mean, std, count} in ms, `mean` being what
    its predictor adds up, so the table's estimate (its statistic); std and count are the samples'.
    Parts sharing a key (ProxylessNAS's pool + classifier `Logits`) are added."""
    out: dict[str, dict] = {}
    for b in doc["blocks"].values():
        mean, std = b["ms"], b["std_ms"] or 0.0
        have = out.get(b["ofa_key"])
        if have and b["ofa_share"]:
            have["mean"] += mean
            have["std"] = (have["std"] ** 2 + std ** 2) ** 0.5
            have["count"] = min(have["count"], b["n"])
        else:
            out[b["ofa_key"]] = {"mean": mean, "std": std, "count": b["n"]}
    return out


def ofa_yaml(doc: dict) -> str:
    import yaml

    header = (f"# mbv3bench lookup table of {doc['space']} at {', '.join(map(str, doc['resolutions']))}: "
              f"{doc['runtime']} ({doc['format']}) on {doc['device'].get('name')} "
              f"({doc['device'].get('cpu_model') or doc['device'].get('model')}); ms per inference; mean is the "
              f"table's {doc['statistic']} of each block's timing runs, std its samples' standard deviation\n")
    return header + yaml.safe_dump(ofa_table(doc), sort_keys=True, default_flow_style=False)


CSV_COLUMNS = ("variant", "ofa_key", "ms", "ci95_lo_ms", "ci95_hi_ms", "median_ms", "mean_ms", "std_ms", "n",
               "noisy", "madds")


def csv_table(doc: dict) -> str:
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for vid, b in doc["blocks"].items():
        lo, hi = b["ci95_ms"]
        w.writerow([vid, b["ofa_key"], b["ms"], lo, hi, b["median_ms"], b["mean_ms"], b["std_ms"], b["n"],
                    int(b["noisy"]), b["madds"]])
    return out.getvalue()
