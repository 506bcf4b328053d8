"""torch module -> ExecuTorch program (.pte) with its XNNPACK delegate, float32 or int8 (pt2e with
XNNPACKQuantizer), and the ETRecord that maps the program's events back to the modules."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..runtimes.inputs import input_shape


def etrecord_path(pte: Path) -> Path:
    """Where a program's ETRecord lies: beside it, so a .pte made elsewhere can bring its own."""
    return Path(pte).with_suffix(".etrecord")


def _quantized(module: torch.nn.Module, example: torch.Tensor, seed: int, calibration_samples: int):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(torch.export.export(module, (example,)).module(), quantizer)
    # the same seeded standard-normal calibration inputs as the TFLite int8 export
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _ in range(calibration_samples):
            prepared(torch.from_numpy(rng.standard_normal(tuple(example.shape), dtype=np.float32)))
    return convert_pt2e(prepared)


def export_pte(module: torch.nn.Module, res: int | tuple[int, ...], path: Path, etrecord: Path, *,
               int8: bool = False, seed: int = 0, calibration_samples: int = 32) -> Path:
    """The program for a (1, 3, res, res) NCHW input (or the shape given), every op XNNPACK takes
    lowered to it; `module` is switched to eval mode."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    path = Path(path)
    module.eval()
    example = torch.zeros(input_shape(res))
    if int8:
        module = _quantized(module, example, seed, calibration_samples)
    edge = to_edge_transform_and_lower(torch.export.export(module, (example,)),
                                       partitioner=[XnnpackPartitioner()], generate_etrecord=True)
    program = edge.to_executorch()
    path.write_bytes(program.buffer)
    program.get_etrecord().save(str(etrecord))
    return path
