"""XNNPACK's operators traced back to the graph ops they came from, for every runtime that
delegates to it (LiteRT, ExecuTorch). XNNPACK names its own operators ("Convolution (NHWC, F32)
IGEMM #3") and reports nothing of the graph, so its operators are aligned with the graph's ops by
walking both in execution order: an operator takes the next op of a compatible kind, and ops
skipped on the way were fused away (BatchNorm into the conv, activations into the op before)."""
from __future__ import annotations

# XNNPACK operator names (prefixes) each graph op can turn into, by TFLite op name and by the
# ATen op name of an ExecuTorch edge graph. 1x1 convs run as "Fully Connected"; PADs fuse into the
# next convolution and activations into the op before them, so those usually have no operator.
_CONV = ("Convolution", "Fully Connected")
_CLAMP = ("Clamp",)
_MEAN = ("Mean", "Global Average Pooling")
_COPY = ("Copy", "Static Reshape")
KINDS = {
    "CONV_2D": _CONV,
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
    "RELU": _CLAMP,
    "RELU6": _CLAMP,
    "RELU_N1_TO_1": _CLAMP,
    "MEAN": _MEAN,
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
    "aten.convolution.default": _CONV,
    "aten.linear.default": ("Fully Connected",),
    "aten.addmm.default": ("Fully Connected",),
    "aten.mm.default": ("Fully Connected",),
    "aten.add.Tensor": ("Add",),
    "aten.sub.Tensor": ("Subtract",),
    "aten.mul.Tensor": ("Multiply",),
    "aten.div.Tensor": ("Divide",),
    "aten.hardswish.default": ("HardSwish",),
    "aten.sigmoid.default": ("Sigmoid",),
    "aten.relu.default": _CLAMP,
    "aten.hardtanh.default": _CLAMP,
    "aten.clamp.default": _CLAMP,
    "aten.mean.dim": _MEAN,
    "aten.avg_pool2d.default": ("Average Pooling", "Global Average Pooling"),
    "aten.max_pool2d.default": ("Max Pooling",),
    "aten.constant_pad_nd.default": ("Constant Pad",),
    "aten.view_copy.default": _COPY,
    "aten.cat.default": ("Concatenate", "Copy"),
    "aten._softmax.default": ("Softmax",),
    "aten.upsample_bilinear2d.vec": ("Resize Bilinear",),
    "quantized_decomposed.quantize_per_tensor.default": ("Convert",),
    "quantized_decomposed.dequantize_per_tensor.default": ("Convert",),
}


def next_match(operator: str, op_kinds: list[str], start: int) -> int | None:
    """The index of the first op from `start` that XNNPACK's `operator` can have come from; None
    when no later op can (an extra operator of the op matched last, e.g. a layout transpose)."""
    return next((i for i in range(start, len(op_kinds))
                 if operator.startswith(KINDS.get(op_kinds[i], ()))), None)
