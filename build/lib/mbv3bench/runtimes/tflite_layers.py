"""Map TFLite ops and LiteRT profiler events back to the model's top-level layers.

litert-torch (0.10.0) gives every lowered op an MLIR location built from the fx
node's nn_module_stack: one "<module>.<ClassName>_<child name>" component per
module level, joined by "/" and ended by ";", e.g.
    torch.nn.modules.container.Sequential/torch.nn.modules.container.Sequential_stem/torch.nn.modules.conv.Conv2d_0;
The TFLite exporter names each op's output tensor after that location; when the
converter fuses ops (conv + batchnorm + relu) the locations are joined with ";"
and a numeric suffix may follow. That is the only trace of the torch modules in
the file (no op debug metadata, one subgraph "main"), so the layer of an op is
read from the second path component of its tensor names: the child of the root
module, i.e. `stem`, `bneck3`, `last_conv`, ...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema

from mbv3bench.runtimes.litert_capi import ProfileEvent

_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}

_TFLITE_OP_EVENT = 2  # OPERATOR_INVOKE_EVENT, md1 = TFLite node index
_DELEGATE_OP_EVENTS = (4, 8)  # XNNPACK reports 8; md1 is its own operator index

# XNNPACK operator names (prefixes) each TFLite op can turn into. 1x1 convs run as
# "Fully Connected"; PADs fuse into the next convolution and activations into the
# op before them, so those usually have no operator of their own.
_XNNPACK_KINDS = {
    "CONV_2D": ("Convolution", "Fully Connected"),
    "DEPTHWISE_CONV_2D": ("Convolution",),
    "TRANSPOSE_CONV": ("Deconvolution",),
    "FULLY_CONNECTED": ("Fully Connected",),
    "BATCH_MATMUL": ("Batch Matrix Multiply", "Fully Connected"),
    "ADD": ("Add",),
    "SUB": ("Subtract",),
    "MUL": ("Multiply",),
    "DIV": ("Divide",),
    "HARD_SWISH": ("HardSwish",),
    "LOGISTIC": ("Sigmoid",),
    "RELU": ("Clamp",),
    "RELU6": ("Clamp",),
    "RELU_N1_TO_1": ("Clamp",),
    "MEAN": ("Mean", "Global Average Pooling"),
    "SUM": ("Sum",),
    "AVERAGE_POOL_2D": ("Average Pooling", "Global Average Pooling"),
    "MAX_POOL_2D": ("Max Pooling",),
    "PAD": ("Constant Pad",),
    "TRANSPOSE": ("Transpose",),
    "RESHAPE": ("Copy",),
    "SQUEEZE": ("Copy",),
    "CONCATENATION": ("Concatenate", "Copy"),
    "SOFTMAX": ("Softmax",),
    "QUANTIZE": ("Convert",),
    "DEQUANTIZE": ("Convert",),
}


@dataclass(frozen=True)
class TfliteOp:
    index: int  # node index in subgraph 0 = execution order = md1 of builtin-kernel events
    op_name: str  # e.g. "CONV_2D"
    layer: str | None
    tensor_names: tuple[str, ...]  # output tensor names, which carry the op's location


def layer_of_tensor_name(name: str) -> str | None:
    for location in name.split(";"):
        parts = location.split("/")
        # Components are qualified class names; this also rejects TF-style "scope/op" names.
        if len(parts) < 2 or "." not in parts[1]:
            continue
        # "<module>.<ClassName>_<child>": child names contain no "." and class names are
        # CamelCase, so the child starts after the first "_" following the last ".".
        class_and_child = parts[1].rsplit(".", 1)[-1]
        if "_" in class_and_child:
            return class_and_child.split("_", 1)[1]
    return None


def _first_layer(names) -> str | None:
    return next((layer for layer in map(layer_of_tensor_name, names) if layer), None)


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
        layer = (_first_layer(outputs)
                 or _first_layer(tensor_name(t) for t in inputs if t not in produced)
                 or _first_layer(tensor_name(t) for t in inputs))
        ops.append(TfliteOp(index, op_name, layer, outputs))
    return ops


def layer_of_events(events: list[ProfileEvent], ops: list[TfliteOp],
                    kernel_mode: str) -> list[tuple[str | None, ProfileEvent]]:
    """Op events of one or more runs, each paired with the layer of the TFLite op it timed.

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
            result.append((ops[event.md1].layer, event))
            next_op = event.md1 + 1
        elif delegate and event.type in _DELEGATE_OP_EVENTS:
            match = next((op for op in ops[next_op:]
                          if event.tag.startswith(_XNNPACK_KINDS.get(op.op_name, ()))), None)
            if match is not None:
                next_op = match.index + 1
            elif next_op > 0:
                match = ops[next_op - 1]
            result.append((match.layer if match else None, event))
    return result
