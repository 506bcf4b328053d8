"""The benchmark run: models x runtimes (x precisions) on one target, each measurement stored the
moment it completes. Data flows one way: variant -> artifact -> target.measure -> store -> report.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .zoo.arch import Network, resolve
from .export.artifacts import exporter_versions, foreign_artifact, get_artifact, model_input_shape, sha256_file
from .zoo.cost import summary
from .core.errors import DeviceLost, UserError
from .measure.protocol import LATENCY_KEYS, Protocol, statistics, summary_statistics
from .core.registry import check_precision, check_runtime, format_of, native_runtime
from .core.results import Job, LayerTime, Latency, OpRow, RawMeasurement, Result
from .runtimes.grouping import choose_grouping, op_rows
from .zoo.spec import parse_variant
from .store import Store, measurement_key

@dataclass(frozen=True)
class Settings:
    threads: int = 1
    xnnpack: bool = True
    ort_opt_level: str = "all"
    per_layer: bool = True
    group_depth: int | None = None  # rows per module at this depth, not per layer (runtimes.grouping)
    per_op: bool = False            # one row per op


@dataclass(frozen=True)
class Cell:
    variant: str
    runtime: str
    format: str


def plan_grid(variants: list[str], runtimes: list[str], precisions: list[str]) -> list[Cell]:
    """Validates every name up front, so a typo fails before anything is measured."""
    for r in runtimes:
        check_runtime(r)
    for p in precisions:
        check_precision(p)
    return [Cell(str(parse_variant(v)), r, f) for v in variants for r in runtimes
            for f in dict.fromkeys(format_of(r, p) for p in precisions) if f]


@dataclass(frozen=True)
class Subject:
    """What one measurement measures: a variant's artifact, or a model file the tool did not build."""
    name: str                   # the canonical variant, or the file's name
    runtime: str
    format: str
    net: Network | None         # None for a foreign file: no paper layers, no cost
    artifact: Path | None       # None for torch, which builds the module in the worker
    sha256: str | None
    input_shape: tuple[int, ...]


def variant_subject(cell: Cell) -> Subject:
    """Exports (or finds in the cache) the cell's artifact."""
    net = resolve(cell.variant)
    art = get_artifact(net.variant, cell.format) if cell.format != "torch" else None
    return Subject(cell.variant, cell.runtime, cell.format, net, art and art.path, art and art.sha256,
                   model_input_shape(net, cell.format))


def file_subject(path: Path, runtime: str | None) -> Subject:
    fmt, shape = foreign_artifact(path)
    native = native_runtime(fmt)
    if runtime not in (None, native):
        raise UserError(f"runtime {runtime!r} cannot run a .{fmt} file; use {native}")
    return Subject(path.name, native, fmt, None, path.resolve(), sha256_file(path), shape)


def settings_of(subject: Subject, s: Settings, protocol: Protocol, core: int | None) -> dict:
    """Everything that makes two measurements comparable (and --resume's key)."""
    d = {"threads": s.threads, "core": core, "format": subject.format, "per_layer": s.per_layer,
         "protocol": protocol.as_dict()}
    if subject.runtime == "litert":
        d["xnnpack"] = s.xnnpack
    if subject.runtime == "onnxruntime":
        d["ort_opt_level"] = s.ort_opt_level
    return d


def job_of(subject: Subject, protocol: Protocol, settings: Settings, core: int | None) -> Job:
    return Job(variant=subject.name, runtime=subject.runtime, format=subject.format,
               input_shape=subject.input_shape, artifact=str(subject.artifact) if subject.artifact else None,
               threads=settings.threads,
               options={"xnnpack": settings.xnnpack, "ort_opt_level": settings.ort_opt_level}
               if subject.runtime != "torch" else {},
               protocol={**protocol.as_dict(), "profile_runs": protocol.profile_runs if settings.per_layer else 0},
               per_layer=settings.per_layer, core=core)


def measure(subject: Subject, target, protocol: Protocol, settings: Settings) -> Result:
    """One measurement on the target."""
    raw = target.measure(job_of(subject, protocol, settings, target.core))
    return result_of(raw, subject, device=target.name, core=target.core,
                     settings=settings_of(subject, settings, protocol, target.core),
                     group_depth=settings.group_depth, per_op=settings.per_op)


def layer_rows(ops: list[OpRow], net: Network | None) -> list[LayerTime]:
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
                rows.append(LayerTime(layer.name, layer.op, totals.pop(layer.name)))
    for name, ms in totals.items():
        rows.append(LayerTime(name if name is not None else "(unattributed)", ", ".join(kinds[name]), ms))
    return rows


def result_of(raw: RawMeasurement, subject: Subject, *, device: str, core: int | None, settings: dict,
              group_depth: int | None = None, per_op: bool = False) -> Result:
    """The Result of a target's raw measurement: statistics, per-layer times, cost."""
    stats = (statistics(raw.samples_ms, raw.process_medians_ms) if raw.samples_ms
             else summary_statistics(**raw.summary))
    latency = Latency(**{k: stats[k] for k in LATENCY_KEYS if k != "ci95"}, ci95=tuple(stats["ci95"]))
    # The profiler slows what it watches (2-40%, most where ops are small): each op keeps its share
    # of the profiled run, applied to the unprofiled headline; time outside any op stays a visible gap.
    headline_ms = latency.headline()[0]
    scale = headline_ms / raw.profiled_run_ms if raw.profiled_run_ms and headline_ms else 1.0
    ops = [replace(o, ms=o.ms * scale) for o in raw.ops]
    grouping = choose_grouping(ops, depth=group_depth, per_op=per_op, paper_layers=subject.net is not None)
    rows = (layer_rows(grouping.apply(ops), subject.net if grouping.depth == 1 else None) if grouping.depth
            else op_rows(ops))
    cost = summary(subject.net) if subject.net is not None else {}
    return Result(
        variant=subject.name, runtime=subject.runtime, format=subject.format, device=device,
        threads=settings.get("threads"), core=core, latency=latency, n=stats["n"], noisy=stats["noisy"],
        noisy_reason=stats["noisy_reason"], per_layer=rows,
        per_layer_sum_ms=sum(r.ms for r in rows) if rows else None, per_layer_grouping=grouping.as_dict(),
        profiler={"profiled_run_ms": raw.profiled_run_ms, "scale": scale} if raw.profiled_run_ms else None,
        process_medians_ms=raw.process_medians_ms, madds=cost.get("madds"), params=cost.get("params"),
        settings=settings, artifact_sha256=subject.sha256, device_state=raw.device_state,
        samples_ms=raw.samples_ms)


def run_grid(cells: list[Cell], target, protocol: Protocol, settings: Settings, store: Store, *,
             resume: bool, on_event: Callable[[str, Cell, Result | None], None] = lambda *a: None) -> list[Result]:
    """Measures every cell; returns the results (stored ones for cells --resume skips).
    Exceptions from one cell are recorded in the store as errors and the grid goes on."""
    run_id = store.start_run({**exporter_versions(), "device": target.describe()})
    results = []
    for cell in cells:
        on_event("export", cell, None)
        subject = variant_subject(cell)
        s = settings_of(subject, settings, protocol, target.core)
        key = measurement_key(cell.variant, subject.sha256 or "torch", cell.runtime, target.name, s)
        if resume and store.has(key):
            stored = store.measurement_by_key(key).as_resumed()
            results.append(stored)
            on_event("skipped", cell, stored)
            continue
        on_event("measure", cell, None)
        try:
            result = measure(subject, target, protocol, settings)
        except DeviceLost:
            raise  # every later cell would fail too; what is stored stays, --resume continues
        except UserError as e:
            result = Result(variant=cell.variant, runtime=cell.runtime, format=cell.format, device=target.name,
                            threads=settings.threads, core=target.core, settings=s, artifact_sha256=subject.sha256,
                            status="error", error=str(e))
        # read back: a fresh result is exactly what the store (and so --resume) gives
        result = store.measurement(store.add_measurement(run_id, key, result))
        results.append(result)
        on_event("error" if not result.ok else "done", cell, result)
    return results
