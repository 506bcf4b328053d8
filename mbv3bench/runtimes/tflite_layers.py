"""Map TFLite ops and LiteRT profiler events back to the model's modules and top-level layers.

litert-torch (0.10.0) gives every lowered op an MLIR location built from the fx
node's nn_module_stack: one "<module>.<ClassName>_<child name>" component per
module level, joined by "/" and ended by ";", e.g.
    torch.nn.modules.container.Sequential/torch.nn.modules.container.Sequential_stem/torch.nn.modules.conv.Conv2d_0;
The TFLite exporter names each op's output tensor after that location; when the
converter fuses ops (conv + batchnorm + relu) the locations are joined with ";"
and a numeric suffix may follow. That is the only trace of the torch modules in
the file (no op debug metadata, one subgraph "main"), so the module path of an op
is read from its tensor names: the child names from the second component on, i.e.
`bneck3`, `bneck3.block`, ...; its first entry, the child of the root module, is the
layer: `stem`, `bneck3`, `last_conv`, ...
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema

from mbv3bench.runtimes.grouping import name_path
from mbv3bench.runtimes.litert_capi import ProfileEvent
from mbv3bench.runtimes.xnnpack_ops import next_match

_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}

_TFLITE_OP_EVENT = 2  # OPERATOR_INVOKE_EVENT, md1 = TFLite node index
_DELEGATE_OP_EVENTS = (4, 8)  # XNNPACK reports 8; md1 is its own operator index

@dataclass(frozen=True)
class TfliteOp:
    index: int  # node index in subgraph 0 = execution order = md1 of builtin-kernel events
    op_name: str  # e.g. "CONV_2D"
    path: tuple[str, ...]  # the modules holding the op (see OpRow.path); () if unknown
    tensor_names: tuple[str, ...]  # output tensor names, which carry the op's location

    @property
    def layer(self) -> str | None:
        return self.path[0] if self.path else None


def path_of_tensor_name(name: str) -> tuple[str, ...]:
    for location in name.split(";"):
        children = []
        for part in location.split("/")[1:]:
            # Components are qualified class names; this also rejects TF-style "scope/op" names.
            if "." not in part:
                break
            # "<module>.<ClassName>_<child>": child names contain no "." and class names are
            # CamelCase, so the child starts after the first "_" following the last ".".
            class_and_child = part.rsplit(".", 1)[-1]
            if "_" not in class_and_child:
                break
            children.append(class_and_child.split("_", 1)[1])
        if children:
            return tuple(".".join(children[:i]) for i in range(1, len(children) + 1))
    return ()


def _first_path(names) -> tuple[str, ...]:
    return next((path for path in map(path_of_tensor_name, names) if path), ())


def tflite_ops(path: str | Path) -> list[TfliteOp]:
    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    graph = model.Subgraphs(0)

    def tensor_name(i: int) -> str:
        return graph.Tensors(i).Name().decode()

    operators = [graph.Operators(i) for i in range(graph.OperatorsLength())]
    # (the *AsNumpy accessors return 0, not an empty array, for empty vectors)
    op_inputs = [[op.Inputs(j) for j in range(op.InputsLength())] for op in operators]
    op_outputs = [[op.Outputs(j) for j in range(op.OutputsLength())] for op in operators]
    produced = {t for outs in op_outputs for t in outs} | {graph.Inputs(j) for j in range(graph.InputsLength())}
    ops = []
    for index, op in enumerate(operators):
        code = model.OperatorCodes(op.OpcodeIndex())
        op_name = _OP_NAMES.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        outputs = tuple(tensor_name(t) for t in op_outputs[index])
        inputs = [t for t in op_inputs[index] if t >= 0]  # -1 marks an omitted optional input
        # Graph outputs are renamed after the signature ("serving_default_output_0_output");
        # then the op's weights still carry its location, and failing that its activations.
        path = (_first_path(outputs)
                or _first_path(tensor_name(t) for t in inputs if t not in produced)
                or _first_path(tensor_name(t) for t in inputs))
        ops.append(TfliteOp(index, op_name, path, outputs))
    if any(op.path for op in ops):
        return ops
    # Not from litert-torch: the path is read from the op's output tensor name, the name
    # benchmark_model shows (TF's "model/block_1/conv/Relu"; for fused ops, the first).
    return [replace(op, path=name_path(op.tensor_names[0].split(";")[0] if op.tensor_names
                                       else f"{op.op_name}:{op.index}")) for op in ops]


def ops_of_events(events: list[ProfileEvent], ops: list[TfliteOp],
                  kernel_mode: str) -> list[tuple[TfliteOp | None, ProfileEvent]]:
    """Op events of one or more runs, each paired with the TFLite op it timed (None: not known).

    Builtin/reference kernels report the TFLite node index. XNNPACK reports its own
    operator index, so its operators are aligned with the TFLite ops by walking both
    in execution order: an operator takes the next TFLite op of a compatible kind,
    and TFLite ops skipped on the way were fused away. An operator no later op
    accepts is an extra operator of the op matched last.
    """
    delegate = kernel_mode == "delegate"
    result = []
    next_op = 0
    for event in events:
        if event.tag == "Invoke" and event.type == 1:
            next_op = 0  # a new run
        elif event.type == _TFLITE_OP_EVENT and event.md1 < len(ops):
            # In delegate mode these are ops XNNPACK did not take; they also anchor the walk.
            result.append((ops[event.md1], event))
            next_op = event.md1 + 1
        elif delegate and event.type in _DELEGATE_OP_EVENTS:
            found = next_match(event.tag, [op.op_name for op in ops], next_op)
            if found is not None:
                next_op = found + 1
            match = ops[next_op - 1] if next_op > 0 else None
            result.append((match, event))
    return result
