"""The benchmark run: models x runtimes (x precisions) on one target, each measurement stored the
moment it completes. Data flows one way: variant -> artifact -> target.measure -> store -> report.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .arch import Network, resolve
from .artifacts import exporter_versions, get_artifact, input_shape
from .cost import summary
from .errors import DeviceLost, UserError
from .measure import Protocol, headline, statistics, summary_statistics
from .runtimes import DEFAULT_FORMAT, RUNTIMES
from .runtimes.base import OpTime
from .spec import parse_variant
from .store import Store, measurement_key

PRECISIONS = {"fp32": "tflite", "int8": "tflite-int8", "int8-fhs": "tflite-int8-fhs"}


@dataclass(frozen=True)
class Settings:
    threads: int = 1
    xnnpack: bool = True
    ort_opt_level: str = "all"
    per_layer: bool = True


@dataclass(frozen=True)
class Cell:
    variant: str
    runtime: str
    format: str


def plan_grid(variants: list[str], runtimes: list[str], precisions: list[str]) -> list[Cell]:
    """Validates every name up front, so a typo fails before anything is measured."""
    for r in runtimes:
        if r not in RUNTIMES:
            raise UserError(f"unknown runtime {r!r}; allowed: {', '.join(RUNTIMES)}")
    for p in precisions:
        if p not in PRECISIONS:
            raise UserError(f"unknown precision {p!r}; allowed: {', '.join(PRECISIONS)}")
    cells = []
    for v in variants:
        canonical = str(parse_variant(v))
        for r in runtimes:
            # int8 exists only as TFLite; the other runtimes measure their float format
            formats = ([PRECISIONS[p] for p in precisions] if r == "litert"
                       else [DEFAULT_FORMAT[r]] if "fp32" in precisions else [])
            cells += [Cell(canonical, r, f) for f in formats]
    return cells


def layer_rows(ops: list[OpTime], net: Network | None) -> list[dict]:
    """Per-op times summed per layer: in the network's layer order with the paper's op labels,
    or, for a foreign file, in order of first appearance with the runtime's op types."""
    totals: dict[str | None, float] = {}
    kinds: dict[str | None, list[str]] = {}
    for o in ops:
        totals[o.layer] = totals.get(o.layer, 0.0) + o.ms
        kinds.setdefault(o.layer, [])
        if o.op not in kinds[o.layer]:
            kinds[o.layer].append(o.op)
    rows = []
    if net is not None:
        for layer in net.layers:
            if layer.name in totals:
                rows.append({"name": layer.name, "op": layer.op, "ms": totals.pop(layer.name)})
    for name, ms in totals.items():
        rows.append({"name": name if name is not None else "(unattributed)", "op": ", ".join(kinds[name]), "ms": ms})
    return rows


def result_of(measured: dict, *, variant: str, runtime: str, fmt: str, device: str, core: int | None,
              settings: dict, net: Network | None, artifact_sha256: str | None) -> dict:
    """One entry of the run JSON's `results`."""
    stats = (statistics(measured["samples_ms"], measured.get("process_medians_ms"))
             if measured.get("samples_ms")
             else summary_statistics(**measured["summary"]))
    # The profiler slows what it watches (2-40%, most where ops are small): each op keeps its share
    # of the profiled run, applied to the unprofiled headline; time outside any op stays a visible gap.
    profiled_ms = measured.get("profiled_run_ms")
    scale = headline(stats)[0] / profiled_ms if profiled_ms else 1.0
    rows = layer_rows([OpTime(layer, node, op, ms * scale) for layer, node, op, ms in measured["ops"]], net)
    cost = summary(net) if net is not None else {}
    return {
        "variant": variant, "runtime": runtime, "format": fmt, "device": device,
        "threads": settings["threads"], "core": core,
        "latency_ms": {k: stats[k] for k in ("median", "mean", "std", "p10", "p90", "ci95")},
        "n": stats["n"], "noisy": stats["noisy"], "noisy_reason": stats["noisy_reason"],
        "per_layer": rows, "per_layer_sum_ms": sum(r["ms"] for r in rows) if rows else None,
        "profiler": {"profiled_run_ms": profiled_ms, "scale": scale} if profiled_ms else None,
        "process_medians_ms": measured.get("process_medians_ms"),
        "madds": cost.get("madds"), "params": cost.get("params"),
        "settings": settings, "artifact_sha256": artifact_sha256,
        "device_state": measured.get("device_state", {}), "samples_ms": measured.get("samples_ms", []),
    }


def _settings(cell: Cell, s: Settings, protocol: Protocol, core: int | None) -> dict:
    d = {"threads": s.threads, "core": core, "format": cell.format, "per_layer": s.per_layer,
         "protocol": protocol.as_dict()}
    if cell.runtime == "litert":
        d["xnnpack"] = s.xnnpack
    if cell.runtime == "onnxruntime":
        d["ort_opt_level"] = s.ort_opt_level
    return d


def run_grid(cells: list[Cell], target, protocol: Protocol, settings: Settings, store: Store, *,
             resume: bool, on_event: Callable[[str, Cell, dict | None], None] = lambda *a: None) -> list[dict]:
    """Measures every cell; returns the results (stored ones for cells --resume skips).
    Exceptions from one cell are recorded in the store as errors and the grid goes on."""
    run_id = store.start_run({**exporter_versions(), "device": target.describe()})
    results = []
    for cell in cells:
        net = resolve(cell.variant)
        on_event("export", cell, None)
        sha = None
        if cell.format != "torch":
            art = get_artifact(cell.variant, cell.format)
            sha = art.sha256
        s = _settings(cell, settings, protocol, target.core)
        key = measurement_key(cell.variant, sha or "torch", cell.runtime, target.name, s)
        if resume and store.has(key):
            stored = store.measurements_by_key(key)
            results.append({**stored, "resumed": True})
            on_event("skipped", cell, stored)
            continue
        on_event("measure", cell, None)
        job = {"variant": cell.variant, "runtime": cell.runtime, "format": cell.format,
               "input_shape": input_shape(net.res),
               "artifact": str(art.path) if sha else None, "threads": settings.threads,
               "options": {"xnnpack": settings.xnnpack, "ort_opt_level": settings.ort_opt_level}
               if cell.runtime != "torch" else {},
               "protocol": {**protocol.as_dict(), "profile_runs": protocol.profile_runs if settings.per_layer else 0},
               "per_layer": settings.per_layer}
        try:
            measured = target.measure(job)
        except DeviceLost:
            raise  # every later cell would fail too; what is stored stays, --resume continues
        except UserError as e:
            failed = {"variant": cell.variant, "runtime": cell.runtime, "format": cell.format,
                      "device": target.name, "threads": settings.threads, "core": target.core,
                      "settings": s, "artifact_sha256": sha, "status": "error", "error": str(e)}
            store.add_measurement(run_id, key, failed)
            results.append(failed)
            on_event("error", cell, failed)
            continue
        result = result_of(measured, variant=cell.variant, runtime=cell.runtime, fmt=cell.format,
                           device=target.name, core=target.core, settings=s, net=net, artifact_sha256=sha)
        result["id"] = store.add_measurement(run_id, key, result)
        results.append(result)
        on_event("done", cell, result)
    return results


def public(result: dict) -> dict:
    """A result as the JSON documents show it: samples stay in the store."""
    return {k: v for k, v in result.items() if k not in ("samples_ms", "id", "created_at")}


def write_reports(doc: dict, out_dir: Path, stamp: str) -> tuple[Path, Path]:
    """results-<stamp>.json and layers-<stamp>.csv under out_dir."""
    import csv

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out_dir / f"results-{stamp}.json", out_dir / f"layers-{stamp}.csv"
    json_path.write_text(json.dumps(doc, indent=2))
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "runtime", "format", "device", "threads", "core", "layer", "op", "ms",
                    "end_to_end_ms", "end_to_end_statistic"])
        for r in doc["results"]:
            for row in r.get("per_layer") or []:
                w.writerow([r["variant"], r["runtime"], r["format"], r["device"], r["threads"], r["core"],
                            row["name"], row["op"], f"{row['ms']:.6f}", f"{headline(r['latency_ms'])[0]:.6f}",
                            headline(r["latency_ms"])[1]])
    return json_path, csv_path
