"""torch eager execution of the nn.Module itself behind the Runtime interface."""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from .base import OpRow, Profile


@dataclass
class TorchSession:
    module: torch.nn.Module
    x: torch.Tensor | None = None
    y: torch.Tensor | tuple[torch.Tensor, ...] | None = None


class TorchRuntime:
    name = "torch"
    artifact_format = "torch"

    def load(self, artifact: torch.nn.Module, threads: int) -> TorchSession:
        # Process-wide setting: torch has no per-module thread count.
        torch.set_num_threads(threads)
        return TorchSession(artifact.eval())

    def bind_input(self, session: TorchSession, x: np.ndarray) -> None:
        session.x = torch.from_numpy(np.ascontiguousarray(x))

    def run(self, session: TorchSession) -> None:
        with torch.inference_mode():
            session.y = session.module(session.x)

    def outputs(self, session: TorchSession) -> list[np.ndarray]:
        return [y.numpy().copy() for y in (session.y if isinstance(session.y, tuple) else (session.y,))]

    def profile(self, artifact: torch.nn.Module, threads: int, x: np.ndarray, runs: int,
                warmup: int = 3) -> Profile:
        """Mean wall time of each top-level child (one per paper layer), timed by forward hooks."""
        session = self.load(artifact, threads)
        self.bind_input(session, x)
        for _ in range(warmup):
            self.run(session)
        started: dict[str, int] = {}
        totals: dict[str, int] = {}  # insertion order = execution order

        def before(name: str, module, args) -> None:
            started[name] = time.perf_counter_ns()

        def after(name: str, module, args, output) -> None:
            totals[name] = totals.get(name, 0) + time.perf_counter_ns() - started[name]

        children = dict(artifact.named_children())
        handles = [h for name, child in children.items()
                   for h in (child.register_forward_pre_hook(partial(before, name)),
                             child.register_forward_hook(partial(after, name)))]
        try:
            walls = []
            for _ in range(runs):
                t0 = time.perf_counter_ns()
                self.run(session)
                walls.append(time.perf_counter_ns() - t0)
        finally:
            for h in handles:
                h.remove()
        return Profile([OpRow(name, name, type(children[name]).__name__, ns / runs / 1e6) for name, ns in totals.items()],
                       float(np.median(walls)) / 1e6)
