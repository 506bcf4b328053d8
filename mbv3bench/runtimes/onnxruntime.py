"""ONNX Runtime (CPU execution provider) behind the Runtime interface."""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .onnx_layers import onnx_node_paths
from .base import OpRow, Profile

OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass
class OrtSession:
    session: ort.InferenceSession
    binding: ort.IOBinding
    # The OrtValues borrow these numpy buffers; holding both keeps the memory alive and in place.
    bound: list[ort.OrtValue] = field(default_factory=list)
    outputs: list[np.ndarray] = field(default_factory=list)


class OnnxRuntime:
    name = "onnxruntime"
    artifact_format = "onnx"

    def __init__(self, opt_level: str = "all"):
        self.opt_level = opt_level

    def _session(self, artifact: Path, threads: int, profile_prefix: str | None = None) -> OrtSession:
        options = ort.SessionOptions()
        options.graph_optimization_level = OPT_LEVELS[self.opt_level]
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        session = ort.InferenceSession(str(artifact), options, providers=["CPUExecutionProvider"])
        return OrtSession(session, session.io_binding())

    def load(self, artifact: Path, threads: int) -> OrtSession:
        return self._session(artifact, threads)

    def bind_input(self, session: OrtSession, x: np.ndarray) -> None:
        x = np.ascontiguousarray(x)
        name = session.session.get_inputs()[0].name
        # One plain run learns the output shapes (the file may leave some symbolic) so that the
        # outputs can go to preallocated buffers: the timed runs then allocate no output memory.
        session.outputs = [np.empty_like(y) for y in session.session.run(None, {name: x})]
        session.binding.clear_binding_inputs()
        session.binding.clear_binding_outputs()
        session.bound = [ort.OrtValue.ortvalue_from_numpy(x)]
        session.binding.bind_ortvalue_input(name, session.bound[0])
        for meta, buffer in zip(session.session.get_outputs(), session.outputs):
            session.bound.append(ort.OrtValue.ortvalue_from_numpy(buffer))
            session.binding.bind_ortvalue_output(meta.name, session.bound[-1])

    def run(self, session: OrtSession) -> None:
        session.session.run_with_iobinding(session.binding)

    def outputs(self, session: OrtSession) -> list[np.ndarray]:
        return [y.copy() for y in session.outputs]

    def profile(self, artifact: Path, threads: int, x: np.ndarray, runs: int, warmup: int = 3) -> Profile:
        """Per-node means from ORT's profiler trace; node names are mapped to module paths through
        the ONNX file's node names (see _paths)."""
        with tempfile.TemporaryDirectory() as tmp:
            session = self._session(artifact, threads, profile_prefix=str(Path(tmp) / "ort"))
            self.bind_input(session, x)
            for _ in range(warmup + runs):
                self.run(session)
            events = json.loads(Path(session.session.end_profiling()).read_text())
        # The trace holds every run of the session (bind_input's and the warm-up runs too): keep
        # the node events of the last `runs` runs.
        model_runs = sorted((e["ts"], e["dur"]) for e in events if e.get("name") == "model_run")[-runs:]
        cutoff = model_runs[0][0]
        totals: dict[str, float] = {}  # insertion order = execution order
        ops: dict[str, str] = {}
        for e in events:
            if e.get("cat") == "Node" and e["ts"] >= cutoff and e["name"].endswith("_kernel_time"):
                node = e["name"].removesuffix("_kernel_time")
                totals[node] = totals.get(node, 0.0) + e["dur"]
                ops[node] = e["args"]["op_name"]
        paths = _paths(list(totals), onnx_node_paths(artifact))
        return Profile([OpRow.in_module(path, node, ops[node], us / runs / 1000.0)
                        for (node, us), path in zip(totals.items(), paths)],
                       float(np.median([dur for _, dur in model_runs])) / 1000.0)


def _paths(nodes: list[str], node_paths: dict[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Module paths of ORT's executed nodes, in order.

    ORT renames the nodes it rewrites by appending to a name (`<node>_output_0_nchwc` for NCHWc
    convs), so the longest `_`-prefix that names a file node gives the path. Nodes ORT
    creates (layout reorders, the HardSigmoid+Mul that its CPU provider runs for HardSwish) name
    no file node: they are charged to the module of the node executed before them (for leading
    ones, the first mapped module).
    """
    mapped = []
    for node in nodes:
        while node and node not in node_paths:
            node = node.rpartition("_")[0]
        mapped.append(node_paths.get(node, ()))
    paths = []
    previous = next((path for path in mapped if path), ())
    for path in mapped:
        previous = path or previous
        paths.append(previous)
    return paths
