"""LiteRT (ai-edge-litert's libLiteRt.so through its C API) behind the Runtime interface.

The C API is the only route on the host to LiteRT's in-graph profiler, so timing and profiling
use the same runtime build: XNNPACK ("delegate" kernels) by default, TFLite's builtin kernels with
xnnpack=False.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .tflite_layers import ops_of_events, tflite_ops
from .base import OpRow, Profile
from .litert_capi import CompiledModel

def _dequantized(out: np.ndarray, info) -> np.ndarray:
    if info.quantization is not None:
        scale, zero_point = info.quantization
        return (out.astype(np.float32) - zero_point) * scale
    return out


class LiteRtRuntime:
    name = "litert"
    artifact_format = "tflite"

    def __init__(self, xnnpack: bool = True):
        self.xnnpack = xnnpack
        self.kernel_mode = "delegate" if xnnpack else "builtin"

    def load(self, artifact: Path, threads: int) -> CompiledModel:
        return CompiledModel(artifact, kernel_mode=self.kernel_mode, threads=threads)

    def bind_input(self, session: CompiledModel, x: np.ndarray) -> None:
        info = session.inputs[0]
        if info.quantization is not None:
            scale, zero_point = info.quantization
            limits = np.iinfo(info.dtype)
            x = np.clip(np.round(x / scale) + zero_point, limits.min, limits.max)
        session.write_inputs(x.astype(info.dtype).reshape(info.shape))

    def run(self, session: CompiledModel) -> None:
        session.invoke()

    def outputs(self, session: CompiledModel) -> list[np.ndarray]:
        return [_dequantized(out, info) for out, info in zip(session.read_outputs(), session.outputs)]

    def profile(self, artifact: Path, threads: int, x: np.ndarray, runs: int, warmup: int = 3) -> Profile:
        """Per-op means from LiteRT's profiler, in-graph; XNNPACK's operators mapped to the TFLite
        ops (and so the modules) they came from."""
        ops = tflite_ops(artifact)
        with CompiledModel(artifact, kernel_mode=self.kernel_mode, threads=threads, profiling=True) as cm:
            self.bind_input(cm, x)
            for _ in range(warmup):
                cm.invoke()
            cm.start_profiling()
            for _ in range(runs):
                cm.invoke()
            events = cm.profile_events()
        totals: dict[tuple[tuple[str, ...], str, str], float] = {}   # insertion order = execution order
        for op, event in ops_of_events(events, ops, self.kernel_mode):
            key = (op.path if op else (), f"{event.tag}#{event.md1}", event.tag)
            totals[key] = totals.get(key, 0.0) + event.elapsed_us
        invokes = [e.elapsed_us for e in events if e.tag == "Invoke" and e.type == 1]
        return Profile([OpRow.in_module(path, node, op, us / runs / 1000.0)
                        for (path, node, op), us in totals.items()],
                       float(np.median(invokes)) / 1000.0)
