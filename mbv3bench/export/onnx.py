"""torch module -> ONNX file whose node names carry the paper's layer names."""
from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from ..runtimes.inputs import input_shape

# 17: HardSwish (opset 14+) exported as one node, and supported by every ONNX Runtime we target.
OPSET = 17


def export_onnx(module: torch.nn.Module, res: int | tuple[int, ...], path: Path) -> Path:
    """Export `module` (switched to eval mode) for a (1, 3, res, res) input (or the shape given);
    BatchNorm folded into
    the convolutions by the exporter. Raises RuntimeError if a BatchNormalization node survives."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with warnings.catch_warnings():
        # The legacy exporter is deprecated, but only it names nodes by module path (/bneck3/...).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (torch.zeros(input_shape(res)),),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["logits"],
            do_constant_folding=True,
            training=torch.onnx.TrainingMode.EVAL,
        )
    unfolded = [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "BatchNormalization"]
    if unfolded:
        raise RuntimeError(f"BatchNorm not folded into convs in {path}: {unfolded}")
    return path
