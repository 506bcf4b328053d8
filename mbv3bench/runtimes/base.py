"""The one interface every runtime implements, and the per-op timing row it reports."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..core.results import OpRow


@dataclass(frozen=True)
class Profile:
    ops: list[OpRow]     # in execution order
    run_ms: float         # median wall time of one profiled inference: the profiler slows what it watches


class Runtime(Protocol):
    name: str             # "onnxruntime", "torch"
    artifact_format: str  # "onnx", "torch"

    def load(self, artifact: Path | Any, threads: int) -> Any:
        """A session, ready to run once an input is bound."""

    def bind_input(self, session: Any, x: np.ndarray) -> None: ...

    def run(self, session: Any) -> None:
        """ONE inference on the bound input: the call the timing loop times."""

    def outputs(self, session: Any) -> list[np.ndarray]:
        """Every output of the last run, float32, in the file's order (a detector has two)."""

    def profile(self, artifact: Path | Any, threads: int, x: np.ndarray, runs: int,
                warmup: int = 3) -> Profile:
        """Per-node mean times over `runs` runs after `warmup` untimed ones, in execution order,
        from a separate, profiling-enabled session."""
