"""The one shape of every measurement, from the job a target runs to the result every command prints
and the store keeps. Local runs, phone runs, ingested logs and rows read back from the store all
build these; JSON is written from them here and nowhere else."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

SCHEMA = 1
LATENCY_KEYS = ("median", "mean", "std", "p10", "p90", "ci95", "min", "max", "value")


@dataclass(frozen=True)
class Job:
    """What a target runs: one artifact on one runtime with the protocol (a worker's stdin)."""
    variant: str
    runtime: str
    format: str
    input_shape: tuple[int, ...]
    artifact: str | None          # None for torch, which builds the module in the worker
    threads: int
    options: dict                 # runtime options: xnnpack, ort_opt_level
    protocol: dict
    per_layer: bool
    core: int | None = None

    def to_json(self) -> dict:
        return {**asdict(self), "input_shape": list(self.input_shape)}

    @classmethod
    def from_json(cls, d: dict) -> "Job":
        return cls(**{**_known(cls, d), "input_shape": tuple(d["input_shape"])})


@dataclass(frozen=True)
class OpRow:
    """One runtime op of a profiled run: the layer it belongs to (None: unattributed), the runtime's
    node name, its op type and its mean milliseconds per inference."""
    layer: str | None
    node: str
    op: str
    ms: float
    # The modules holding the op, outermost first, each by its full name ("features", "features.3",
    # "features.3.0"); path[0] is the layer. Rows are regrouped at any depth from it (runtimes.grouping).
    path: tuple[str, ...] = ()

    @classmethod
    def in_module(cls, path: tuple[str, ...], node: str, op: str, ms: float) -> "OpRow":
        return cls(path[0] if path else None, node, op, ms, tuple(path))

    def row(self) -> list:
        """The op as JSON (a worker's answer): [layer, node, op, ms, path]."""
        return [self.layer, self.node, self.op, self.ms, list(self.path)]

    @classmethod
    def from_row(cls, row: list) -> "OpRow":
        layer, node, op, ms, *path = row
        return cls(layer, node, op, ms, tuple(path[0]) if path else ())


@dataclass
class RawMeasurement:
    """What a target returns: timed samples (or, from benchmark_model, only its summary), the
    per-op profile, and the device's state around it."""
    samples_ms: list[float] = field(default_factory=list)
    process_medians_ms: list[float] | None = None
    summary: dict | None = None            # {mean, std, n, median, min, max} where no samples exist
    ops: list[OpRow] = field(default_factory=list)
    profiled_run_ms: float | None = None
    device_state: dict = field(default_factory=dict)
    # rounds: each process's block medians in round order; a block of every cell measured together
    # shares its process and round index, which is what pairs them
    blocks_ms: list[list[float]] | None = None
    rounds: dict | None = None              # {block_runs, processes, rounds, stopped_by, elapsed_s, ...}
    instructions: dict | None = None        # {per_invoke, counter, ...}: --metric instructions

    def to_json(self) -> dict:
        return {**asdict(self), "ops": [o.row() for o in self.ops]}

    @classmethod
    def from_json(cls, d: dict) -> "RawMeasurement":
        return cls(**{**_known(cls, d), "ops": [OpRow.from_row(o) for o in d.get("ops", [])]})


@dataclass(frozen=True)
class Latency:
    """End-to-end milliseconds. What a source lacks stays None (benchmark_model prints no samples,
    so no percentiles or interval), never guessed. `value` is the result's statistic of its blocks
    (Result.statistic) and `ci95` its interval; p10, min and the rest are of the timed invokes."""
    median: float | None = None
    mean: float | None = None
    std: float | None = None
    p10: float | None = None
    p90: float | None = None
    ci95: tuple[float | None, float | None] = (None, None)
    min: float | None = None
    max: float | None = None
    value: float | None = None   # None in results written before the statistic was recorded

    def to_json(self) -> dict:
        return {**asdict(self), "ci95": list(self.ci95)}

    @classmethod
    def from_json(cls, d: dict | None) -> "Latency":
        d = d or {}
        return cls(**{**_known(cls, d), "ci95": tuple(d.get("ci95") or (None, None))})


def headline(lat: Latency, statistic: str) -> tuple[float | None, str]:
    """The one number a table shows and what it is: the statistic's value, or for a median the
    median, or the mean where only a summary without a median is known (older benchmark_model
    builds), named so the reader knows which."""
    if statistic != "median" and lat.value is not None:
        return lat.value, statistic
    if lat.median is not None:
        return lat.median, "median"
    return lat.mean, "mean"


@dataclass(frozen=True)
class LayerTime:
    name: str
    op: str
    ms: float


@dataclass
class Result:
    """One measured cell: the entry of every JSON document's `results`."""
    variant: str
    runtime: str
    format: str | None
    device: str
    threads: int | None = None
    core: int | None = None
    status: str = "ok"                      # ok | error
    error: str | None = None
    latency: Latency = field(default_factory=Latency)
    statistic: str = "median"               # what the headline is of the blocks (core.registry STATISTICS)
    n: int | None = None
    noisy: bool = False
    noisy_reason: str | None = None
    per_layer: list[LayerTime] = field(default_factory=list)
    per_layer_sum_ms: float | None = None
    per_layer_grouping: dict | None = None   # {depth, auto, within}: how op rows became per_layer rows
    init_layers: list[LayerTime] = field(default_factory=list)
    profiler: dict | None = None            # {profiled_run_ms, scale}
    process_medians_ms: list[float] | None = None
    blocks_ms: list[list[float]] | None = None   # per process, the median of each block, in round order
    ratios: list[dict] = field(default_factory=list)  # against each cell measured in the same rounds
    drift_pct: float | None = None
    rounds: dict | None = None
    instructions: dict | None = None
    madds: int | None = None
    params: int | None = None
    settings: dict = field(default_factory=dict)
    artifact_sha256: str | None = None
    device_state: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    resumed: bool = False
    id: int | None = None
    created_at: float | None = None
    samples_ms: list[float] = field(default_factory=list)   # kept in the store, not in the JSON

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def headline(self) -> tuple[float | None, str]:
        return headline(self.latency, self.statistic)

    def to_json(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("latency", "samples_ms")}
        d["latency_ms"] = self.latency.to_json()
        for key in ("per_layer", "init_layers"):
            d[key] = [asdict(r) for r in d[key]]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Result":
        """A result of a document already checked against results-v1.schema.json (core.documents),
        which is what makes these keys and types safe to take."""
        return cls(**{**_known(cls, d), "statistic": d.get("statistic") or "median", "latency": Latency.from_json(d.get("latency_ms")),
                      "per_layer": [LayerTime(**_known(LayerTime, r)) for r in d.get("per_layer") or []],
                      "init_layers": [LayerTime(**_known(LayerTime, r)) for r in d.get("init_layers") or []]})

    def as_resumed(self) -> "Result":
        return replace(self, resumed=True)


def _known(cls, d: dict) -> dict:
    """The keys of d that cls has: documents written by a newer version may carry more."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


def envelope(results: list[Result], device: dict | None, **extra: Any) -> dict:
    """The JSON document of every command that prints numbers."""
    return {"schema": SCHEMA, "device": device, **extra, "results": [r.to_json() for r in results]}
