"""The one interface every runtime implements, and the per-op timing row it reports."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class OpTime:
    layer: str | None  # paper layer name (for foreign files: derived from the node name); None if unmapped
    node: str          # the runtime's own node/op name
    op: str            # op type, e.g. "Conv", "HardSwish", "CONV_2D"
    ms: float          # mean milliseconds per inference
    # The modules holding the op, outermost first, each by its full name ("features", "features.3",
    # "features.3.0"); path[0] is the layer. Rows are regrouped at any depth from it (runtimes.grouping).
    path: tuple[str, ...] = ()

    @classmethod
    def in_module(cls, path: tuple[str, ...], node: str, op: str, ms: float) -> OpTime:
        return cls(path[0] if path else None, node, op, ms, path)

    def row(self) -> list:
        """The op as the worker sends it to the parent (JSON)."""
        return [self.layer, self.node, self.op, self.ms, list(self.path)]

    @classmethod
    def from_row(cls, row: list) -> OpTime:
        layer, node, op, ms, path = row
        return cls(layer, node, op, ms, tuple(path))


@dataclass(frozen=True)
class Profile:
    ops: list[OpTime]     # in execution order
    run_ms: float         # median wall time of one profiled inference: the profiler slows what it watches


class Runtime(Protocol):
    name: str             # "onnxruntime", "torch"
    artifact_format: str  # "onnx", "torch"

    def load(self, artifact: Path | Any, threads: int) -> Any:
        """A session, ready to run once an input is bound."""

    def bind_input(self, session: Any, x: np.ndarray) -> None: ...

    def run(self, session: Any) -> None:
        """ONE inference on the bound input: the call the timing loop times."""

    def output(self, session: Any) -> np.ndarray: ...

    def profile(self, artifact: Path | Any, threads: int, x: np.ndarray, runs: int,
                warmup: int = 3) -> Profile:
        """Per-node mean times over `runs` runs after `warmup` untimed ones, in execution order,
        from a separate, profiling-enabled session."""
