"""The benchmark run: models x runtimes (x precisions) on one target. The cells of runtimes that share
a worker process (core.registry.SHARED_WORKER_RUNTIMES) are measured together, in rounds (measure/adaptive.py), and stored the moment their group finishes.
Data flows one way: variant -> artifact -> measure_cells -> store -> report.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .zoo.arch import Network, resolve
from .export.artifacts import foreign_artifact, get_artifact, model_input_shape, sha256_file, tool_versions
from .export.parallel import export_all
from .zoo.cost import summary
from .core.errors import UserError
from .measure import blockstats
from .measure.adaptive import Interrupted, Snapshot
from .measure.protocol import Protocol, statistics, summary_statistics
from .core.registry import check_precision, check_runtime, format_of, native_runtime, worker_group
from .core.results import LATENCY_KEYS, Job, LayerTime, Latency, OpRow, RawMeasurement, Result, headline
from .runtimes.grouping import choose_grouping, op_rows
from .zoo.spec import parse_variant
from .store import Store, StoreError, StoredArtifact, measurement_key
from .targets.base import GroupWork, Target, TargetOptions

METRICS = ("time", "instructions")
MAX_GROUP = 12                 # cells per group: more make a round long and its pairs far apart
MODEL_OVERHEAD_BYTES = 32 << 20   # a loaded model's activations and runtime state, beyond its weights


@dataclass(frozen=True)
class Settings:
    threads: int = 1
    xnnpack: bool = True
    ort_opt_level: str = "all"
    per_layer: bool = True
    group_depth: int | None = None  # rows per module at this depth, not per layer (runtimes.grouping)
    per_op: bool = False            # one row per op


@dataclass(frozen=True)
class MeasureOptions:
    """What a measuring command was told: where, by which protocol and runtime settings, by which
    metric. Built once from the command line (options.py), for every command that measures."""
    target: TargetOptions = field(default_factory=TargetOptions)
    protocol: Protocol = field(default_factory=Protocol)
    settings: Settings = field(default_factory=Settings)
    metric: str = "time"


@dataclass(frozen=True)
class Cell:
    variant: str
    runtime: str
    format: str
    # cells of different groups are never measured in the same rounds; a grid may hold one cell
    # in two groups, each measured with its own neighbours (the paired ratios a table needs)
    group: str = ""


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
    exporter: dict | None = None        # the exporters' versions of an artifact this tool built
    max_abs_err: float | None = None    # its check against torch

    def stored_artifact(self) -> StoredArtifact | None:
        """The file this subject measures, for the store's artifacts table (torch measures no file)."""
        if self.artifact is None or self.sha256 is None:
            return None
        return StoredArtifact(self.sha256, self.name, self.format, self.artifact, self.exporter, self.max_abs_err)


def variant_subject(cell: Cell, rebuild: bool = False) -> Subject:
    """Exports (or finds in the cache, unless `rebuild`) the cell's artifact."""
    net = resolve(cell.variant)
    art = get_artifact(net.variant, cell.format, rebuild=rebuild) if cell.format != "torch" else None
    return Subject(cell.variant, cell.runtime, cell.format, net, art and art.path, art and art.sha256,
                   model_input_shape(net, cell.format), art and art.exporter, art and art.check.get("max_abs_err"))


def file_subject(path: Path, runtime: str | None) -> Subject:
    fmt, shape = foreign_artifact(path)
    native = native_runtime(fmt)
    if runtime not in (None, native):
        raise UserError(f"runtime {runtime!r} cannot run a .{fmt} file; use {native}")
    return Subject(path.name, native, fmt, None, path.resolve(), sha256_file(path), shape)


def settings_of(subject: Subject, s: Settings, protocol: Protocol, core: int | None, metric: str = "time") -> dict:
    """Everything that makes two measurements comparable (and --resume's key)."""
    d = {"threads": s.threads, "core": core, "format": subject.format, "per_layer": s.per_layer,
         "protocol": protocol.as_dict(), "metric": metric}
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


def label(subject: Subject) -> str:
    return f"{subject.name} ({subject.format})"


def group_work(subjects: list[Subject], target: Target, protocol: Protocol, settings: Settings,
               metric: str = "time") -> GroupWork:
    """The subjects (one runtime) as one group: measured together, in interleaved rounds until
    their intervals are tight (or their instructions counted)."""
    return GroupWork([job_of(s, protocol, settings, target.core) for s in subjects], protocol,
                     [label(s) for s in subjects], metric)


def measure_cells(subjects: list[Subject], target: Target, protocol: Protocol, settings: Settings, *,
                  metric: str = "time", on_progress: Callable[[Snapshot], None] | None = None
                  ) -> list[RawMeasurement]:
    """One group of subjects measured: what every command that measures calls for one group.
    One RawMeasurement per subject; --metric instructions: the instructions retired in each invoke."""
    if metric == "instructions":
        settings = replace(settings, per_layer=False)
    return target.measure_group(group_work(subjects, target, protocol, settings, metric), on_progress)


def measure(subject: Subject, target: Target, protocol: Protocol, settings: Settings) -> Result:
    """One subject on its own (`profile`)."""
    s = settings_of(subject, settings, protocol, target.core)
    try:
        raws = measure_cells([subject], target, protocol, settings)
    except Interrupted as e:
        raise e.cause from None
    return results_of(raws, [subject], device=target.name, core=target.core, settings=[s],
                      group_depth=settings.group_depth, per_op=settings.per_op)[0]


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


def _statistic_of(settings: dict) -> str:
    """The statistic a measurement is headlined by: its protocol's (the paired ratios' too)."""
    return (settings.get("protocol") or {}).get("statistic") or "median"


def _statistics(raw: RawMeasurement, statistic: str) -> dict:
    if raw.instructions:
        return {"n": raw.instructions.get("invokes"), "noisy": False, "noisy_reason": None}
    if any(raw.blocks_ms or []):
        rounds = raw.rounds or {}
        return {**blockstats.cell_statistics(raw.samples_ms, raw.blocks_ms, summary=raw.summary, statistic=statistic,
                                             block_value=rounds.get("block_value", "median"),
                                             cpu_share=rounds.get("cpu_share")), "statistic": statistic}
    if raw.samples_ms:
        return statistics(raw.samples_ms, raw.process_medians_ms)
    return summary_statistics(**raw.summary)


def _stop_note(raw: RawMeasurement, stats: dict) -> list[str]:
    rounds, est = raw.rounds or {}, stats.get("estimate")
    width = f"+-{est.half_pct:.1f}%" if est and est.half_pct is not None else "no interval"
    target = rounds.get("target_ci_pct")
    stopped = f"after {rounds.get('processes')} process(es) (phone: rounds), {width}"
    return {"max_secs": [f"stopped at --max-secs with {width} (target +-{target:g}%)"] if target else [],
            "interrupted": [f"interrupted {stopped}"], "device lost": [f"the device went away {stopped}"]}.get(
        rounds.get("stopped_by"), [])


def result_of(raw: RawMeasurement, subject: Subject, *, device: str, core: int | None, settings: dict,
              group_depth: int | None = None, per_op: bool = False) -> Result:
    """The Result of a target's raw measurement: statistics, per-layer times, cost."""
    stats = _statistics(raw, _statistic_of(settings))
    latency = Latency(**{k: stats.get(k) for k in LATENCY_KEYS if k != "ci95"},
                      ci95=tuple(stats.get("ci95") or (None, None)))
    statistic = stats.get("statistic", "median")
    # The profiler slows what it watches (2-40%, most where ops are small): each op keeps its share
    # of the profiled run, applied to the unprofiled headline; time outside any op stays a visible gap.
    headline_ms = headline(latency, statistic)[0]
    scale = headline_ms / raw.profiled_run_ms if raw.profiled_run_ms and headline_ms else 1.0
    ops = [replace(o, ms=o.ms * scale) for o in raw.ops]
    grouping = choose_grouping(ops, depth=group_depth, per_op=per_op, paper_layers=subject.net is not None)
    rows = (layer_rows(grouping.apply(ops), subject.net if grouping.depth == 1 else None) if grouping.depth
            else op_rows(ops))
    cost = summary(subject.net) if subject.net is not None else {}
    return Result(
        variant=subject.name, runtime=subject.runtime, format=subject.format, device=device,
        threads=settings.get("threads"), core=core, latency=latency, statistic=statistic, n=stats["n"],
        noisy=stats["noisy"],
        noisy_reason=stats["noisy_reason"], per_layer=rows,
        per_layer_sum_ms=sum(r.ms for r in rows) if rows else None, per_layer_grouping=grouping.as_dict(),
        profiler={"profiled_run_ms": raw.profiled_run_ms, "scale": scale} if raw.profiled_run_ms else None,
        process_medians_ms=raw.process_medians_ms, blocks_ms=raw.blocks_ms, drift_pct=stats.get("drift_pct"),
        rounds=raw.rounds, instructions=raw.instructions, madds=cost.get("madds"), params=cost.get("params"),
        settings=settings, artifact_sha256=subject.sha256, device_state=raw.device_state,
        notes=stats.get("notes", []) + _stop_note(raw, stats), samples_ms=raw.samples_ms)


def _ratio(a: RawMeasurement, b: RawMeasurement, other: Subject, statistic: str) -> dict | None:
    est = blockstats.ratio(a.blocks_ms or [], b.blocks_ms or [], statistic)
    if est is None:
        return None
    return {"vs": {"variant": other.name, "format": other.format}, "ratio": est.value, "ci95": list(est.ci95),
            "p_value": est.p_value, "blocks": est.blocks, "units": est.units, "unit": est.unit,
            "statistic": blockstats.RATIO_STATISTIC[statistic]}


def results_of(raws: list[RawMeasurement], subjects: list[Subject], *, device: str, core: int | None,
               settings: list[dict], group_depth: int | None = None, per_op: bool = False) -> list[Result]:
    """The Results of subjects measured together, each with its paired ratio against every other."""
    results = [result_of(raw, s, device=device, core=core, settings=st, group_depth=group_depth, per_op=per_op)
               for raw, s, st in zip(raws, subjects, settings)]
    if len(subjects) > 1 and all(r.blocks_ms for r in raws):
        group = uuid.uuid4().hex[:12]
        for i, r in enumerate(results):
            r.ratios = [x for j in range(len(subjects)) if j != i
                        for x in [_ratio(raws[i], raws[j], subjects[j], r.statistic)] if x]
            r.rounds = {**r.rounds, "group": group, "with": [label(s) for j, s in enumerate(subjects) if j != i]}
    return results


class NotStored(StoreError):
    """The store refused a result (full, locked, read-only...): the grid stops there. `results` holds
    every cell measured so far, stored or not (an unstored one has no id), so nothing measured is lost."""

    def __init__(self, cause: StoreError, results: list[Result]):
        super().__init__(str(cause))
        self.results = results


@dataclass(frozen=True)
class _Item:
    cell: Cell
    subject: Subject
    settings: dict
    key: str


def _model_bytes(subject: Subject) -> int:
    weights = subject.artifact.stat().st_size if subject.artifact else 4 * summary(subject.net)["params"]
    return 2 * weights + MODEL_OVERHEAD_BYTES   # weights as read, and repacked by the runtime


def _chunks(items: list[_Item], budget: int | None, most: int = MAX_GROUP) -> list[list[_Item]]:
    """Consecutive pieces of at most `most` cells whose models fit in memory together."""
    chunks: list[list[_Item]] = []
    used = 0
    for it in items:
        size = _model_bytes(it.subject)
        if not chunks or len(chunks[-1]) >= most or (budget is not None and used + size > budget):
            chunks.append([])
            used = 0
        chunks[-1].append(it)
        used += size
    return chunks


def run_grid(cells: list[Cell], target: Target, protocol: Protocol, settings: Settings, store: Store, *,
             resume: bool, on_event: Callable[[str, Cell, Result | None], None] = lambda *a: None,
             on_progress: Callable[[Snapshot], None] | None = None, metric: str = "time",
             rebuild: bool = False, independent: bool = False, export_jobs: int = 1) -> list[Result]:
    """Measures every cell, the cells of runtimes sharing a worker (and of one Cell.group) together;
    returns the results (stored ones for cells --resume skips), each stored the moment its group
    finishes. Every artifact is exported first, `export_jobs` at a time (on_event "exported" as each
    is ready). `independent`: the cells are not compared with each other (a lookup table's blocks),
    so a target with several devices measures each on whichever device is free, not in groups. A
    group that fails is measured again cell by cell, so only the failing cell is recorded as an
    error; Ctrl-C or a lost phone stores what the finished processes (phone: rounds) measured, then
    stops."""
    run_id = store.start_run({**tool_versions(), "device": target.describe()})
    results: dict[Cell, Result] = {}

    def keep(items: list[_Item], measured: list[Result]) -> None:
        for i, (it, result) in enumerate(zip(items, measured)):
            try:
                # read back: a fresh result is exactly what the store (and so --resume) gives
                results[it.cell] = store.measurement(store.add_measurement(run_id, it.key, result,
                                                                           it.subject.stored_artifact()))
            except StoreError as e:
                results.update((later.cell, r) for later, r in zip(items[i:], measured[i:]))
                raise NotStored(e, [results[c] for c in cells if c in results]) from None
            on_event("error" if not results[it.cell].ok else "done", it.cell, results[it.cell])

    def measured(items: list[_Item], raws: list[RawMeasurement]) -> list[Result]:
        return results_of(raws, [it.subject for it in items], device=target.name, core=target.core,
                          settings=[it.settings for it in items])

    def failed(it: _Item, error: UserError) -> Result:
        return Result(variant=it.cell.variant, runtime=it.cell.runtime, format=it.cell.format, device=target.name,
                      threads=settings.threads, core=target.core, settings=it.settings,
                      artifact_sha256=it.subject.sha256, status="error", error=str(error))

    def measure_chunks(chunks: list[list[_Item]]) -> None:
        work = [group_work([it.subject for it in c], target, protocol,
                           replace(settings, per_layer=False) if metric == "instructions" else settings, metric)
                for c in chunks]
        again: list[list[_Item]] = []

        def started(i: int) -> None:
            for it in chunks[i]:
                on_event("measure", it.cell, None)

        try:
            for i, outcome in target.measure_groups(work, on_progress, started):
                if not isinstance(outcome, UserError):
                    keep(chunks[i], measured(chunks[i], outcome))
                elif len(chunks[i]) > 1:
                    again.extend([it] for it in chunks[i])
                else:
                    keep(chunks[i], [failed(chunks[i][0], outcome)])
        except Interrupted as e:
            if e.group is not None:
                keep(chunks[e.group], measured(chunks[e.group], e.raws))
            raise e.cause from None
        if again:
            measure_chunks(again)

    def exported(variant: str, fmt: str) -> None:
        for cell in cells:
            if (cell.variant, cell.format) == (variant, fmt):
                on_event("exported", cell, None)

    export_all([(c.variant, c.format) for c in cells], export_jobs, exported, rebuild=rebuild)
    budget = target.memory_budget()
    chunks: list[list[_Item]] = []
    for group in dict.fromkeys((worker_group(c.runtime), c.group) for c in cells):
        todo = []
        for cell in (c for c in cells if (worker_group(c.runtime), c.group) == group):
            subject = variant_subject(cell)
            s = settings_of(subject, settings, protocol, target.core, metric)
            key = measurement_key(cell.variant, subject.sha256 or "torch", cell.runtime, target.name, s)
            if resume and store.has(key):
                results[cell] = store.measurement_by_key(key).as_resumed()
                on_event("skipped", cell, results[cell])
            else:
                todo.append(_Item(cell, subject, s, key))
        chunks += _chunks(todo, budget, 1 if independent and target.parallel else MAX_GROUP)
    measure_chunks(chunks)
    return [results[c] for c in cells]


def measure_on_each_device(cell: Cell, target: Target, protocol: Protocol, settings: Settings, store: Store, *,
                           resume: bool) -> list[Result]:
    """One cell measured on every device of a target with several (a farm), each result stored:
    how fast each device is, by the same model. Each device's result has a key of its own, so
    --resume takes each device's from the store, and none is taken for the cell's own."""
    subject = variant_subject(cell)
    labels = {d: target.device_label(d) for d in target.devices()}
    items = {d: (s, measurement_key(cell.variant, subject.sha256 or "torch", cell.runtime, target.name, s))
             for d in labels for s in [{**settings_of(subject, settings, protocol, target.core), "on_device": labels[d]}]}
    found = {d: store.measurement_by_key(key).as_resumed() for d, (_, key) in items.items() if resume and store.has(key)}
    todo = [d for d in items if d not in found]
    work = group_work([subject], target, protocol, settings)
    run_id = store.start_run({**tool_versions(), "device": target.describe()}) if todo else None
    try:
        for i, outcome in target.measure_groups([replace(work, device=d) for d in todo]):
            d = todo[i]
            if isinstance(outcome, UserError):
                raise UserError(f"{cell.variant} on {labels[d]}: {outcome}")
            s, key = items[d]
            result = results_of(outcome, [subject], device=target.name, core=target.core, settings=[s])[0]
            found[d] = store.measurement(store.add_measurement(run_id, key, result, subject.stored_artifact()))
    except Interrupted as e:
        raise e.cause from None
    return [found[d] for d in items]
