"""ExecuTorch (its Python runtime over the XNNPACK delegate) behind the Runtime interface.

ExecuTorch keeps its own thread pool, which `torch.set_num_threads` does not reach: it is reset to
the asked count before a program loads and read back, so a count it does not take is an error,
never a silent multi-threaded number. Per-op times come from its ETDump: XNNPACK's operators
inside a delegate call carry no module (executorch issue #9034), so they are aligned with the
program's ETRecord (the edge graph, whose nodes carry their modules) by execution order, as
XNNPACK's operators are for LiteRT. Without an ETRecord beside the program, the rows are per op."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .base import OpRow, Profile
from .xnnpack_ops import KINDS, next_match

# events of a run that time something the rows already hold: the delegate call holds its
# operators, OPERATOR_CALL the kernel event inside it, Method::execute the whole run
_ENCLOSING = ("DELEGATE_CALL", "OPERATOR_CALL", "Method::execute")
_NATIVE = "native_call_"


def _set_threads(threads: int) -> None:
    from executorch.extension.pybindings import portable_lib

    if portable_lib._threadpool_get_thread_count() != threads:
        portable_lib._unsafe_reset_threadpool(threads)
    got = portable_lib._threadpool_get_thread_count()
    if got != threads:
        raise RuntimeError(f"ExecuTorch's thread pool runs {got} thread(s), not the {threads} asked")


def _program(artifact: Path, threads: int, **kw):
    from executorch.runtime import Runtime

    _set_threads(threads)
    return Runtime.get().load_program(Path(artifact), **kw)


def input_shape_of(path: Path) -> tuple[int, ...]:
    """The program's first input's shape (a file made by another tool)."""
    meta = _program(path, 1).metadata("forward")
    return tuple(meta.input_tensor_meta(0).sizes())


@dataclass
class EtSession:
    program: object
    method: object
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)


def _edge_ops(etrecord: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(ATen op name, module path) of every op of the program's edge graph, in graph order."""
    from executorch.devtools.etrecord import parse_etrecord

    ops = []
    for node in parse_etrecord(str(etrecord)).edge_dialect_program.graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        stack = node.meta.get("nn_module_stack") or {}
        path = tuple(p for p, _ in stack.values() if p)
        ops.append((getattr(node.target, "__name__", str(node.target)), path))
    return ops


def _event_path(event) -> tuple[str, ...]:
    """A kernel event outside a delegate: the modules of the node it ran, from the ETRecord."""
    for modules in (event.module_hierarchy or {}).values():
        return tuple(p for p, _ in modules.values() if p)
    return ()


class ExecuTorchRuntime:
    name = "executorch"
    artifact_format = "pte"

    def load(self, artifact: Path, threads: int) -> EtSession:
        program = _program(artifact, threads)
        return EtSession(program, program.load_method("forward"))

    def bind_input(self, session: EtSession, x: np.ndarray) -> None:
        session.inputs = [torch.from_numpy(np.ascontiguousarray(x))]

    def run(self, session: EtSession) -> None:
        session.outputs = session.method.execute(session.inputs)

    def outputs(self, session: EtSession) -> list[np.ndarray]:
        return [y.detach().numpy().copy() for y in session.outputs]

    def profile(self, artifact: Path, threads: int, x: np.ndarray, runs: int, warmup: int = 3) -> Profile:
        """This process's ETDump of `warmup + runs` runs as rows (etdump_profile)."""
        program = _program(artifact, threads, enable_etdump=True, debug_buffer_size=0)
        session = EtSession(program, program.load_method("forward"))
        self.bind_input(session, x)
        for _ in range(warmup + runs):
            self.run(session)
        with tempfile.TemporaryDirectory() as tmp:
            etdump = Path(tmp) / "run.etdp"
            program.write_etdump_result_to_file(str(etdump), str(Path(tmp) / "debug.bin"))
            return etdump_profile(etdump, artifact, runs)


def etdump_profile(etdump: Path, artifact: Path, runs: int) -> Profile:
    """The rows of an ETDump of `artifact`'s runs (this process's, or a phone's executor_runner's):
    per-event means of the last `runs` runs, mapped to modules through the ETRecord beside the
    program when there is one, per event otherwise."""
    from executorch.devtools import Inspector

    etrecord = Path(artifact).with_suffix(".etrecord")
    has_record = etrecord.is_file()
    inspector = Inspector(etdump_path=str(etdump), etrecord=str(etrecord) if has_record else None,
                          enable_module_hierarchy=has_record)
    edge = _edge_ops(etrecord) if has_record else []
    kinds = [op for op, _ in edge]
    rows, run_ms, next_op, leading = [], [], 0, []
    for block in inspector.event_blocks:
        for event in block.events:
            times = (event.perf_data.raw if event.perf_data is not None else [])[-runs:]
            if event.name == "Method::execute":
                run_ms = times
            if not times or event.name in _ENCLOSING or event.name.startswith(("Method::", "Program::")):
                continue
            if event.is_delegated_op:
                found = next_match(event.name, kinds, next_op)
                next_op = found + 1 if found is not None else next_op
                path = edge[next_op - 1][1] if next_op > 0 else ()
                op = event.name.split(" #")[0]
                if not path:
                    leading.append(len(rows))
            else:
                path = _event_path(event)
                op = event.name.removeprefix(_NATIVE)
            if not has_record:   # no modules to group by: each event is its own row
                path = (event.name,)
            rows.append(OpRow.in_module(path, event.name, op, float(np.mean(times))))
    if edge:   # operators before the first match (the input's layout transpose): the first module's
        first = edge[next((i for i, (op, _) in enumerate(edge) if op in KINDS), 0)][1]
        for i in leading:
            rows[i] = OpRow.in_module(first, rows[i].node, rows[i].op, rows[i].ms)
    return Profile(rows, float(np.median(run_ms)) if run_ms else float("nan"))
