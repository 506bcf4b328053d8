"""torch module -> TFLite flatbuffer: float32 through litert-torch, full-integer int8 through
ai-edge-quantizer on that float file."""
from __future__ import annotations

import tempfile
from pathlib import Path

import litert_torch
import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter
from ai_edge_quantizer import algorithm_manager, qtyping, quantizer, recipe

from ..runtimes.inputs import input_shape

_SIGNATURE = "serving_default"


def export_tflite(module: torch.nn.Module, res: int | tuple[int, ...], path: Path) -> Path:
    """Float32 model for a (1, 3, res, res) NCHW input (or the shape given); `module` is switched
    to eval mode."""
    path = Path(path)
    module.eval()
    litert_torch.convert(module, (torch.zeros(input_shape(res)),)).export(str(path))
    return path


def export_tflite_int8(module: torch.nn.Module, res: int | tuple[int, ...], path: Path, *, float_hswish: bool,
                       seed: int = 0, calibration_samples: int = 32) -> Path:
    """Full-integer int8 model (int8 input and output, per-channel int8 weights), calibrated on
    `calibration_samples` standard-normal inputs drawn with `seed`.

    float_hswish=True leaves HARD_SWISH in float32 between DEQUANTIZE/QUANTIZE: XNNPACK has no
    int8 h-swish, so int8 HARD_SWISH falls back to TFLite kernels and splits the delegated graph.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        float_path = export_tflite(module, res, Path(tmp) / "float.tflite")
        q = quantizer.Quantizer(str(float_path))
        q.load_quantization_recipe(recipe.static_wi8_ai8())
        if float_hswish:
            # A later recipe entry wins for the ops it matches: NO_QUANTIZE keeps them float.
            q.update_quantization_recipe(
                regex=".*",
                operation_name=qtyping.TFLOperationName.HARD_SWISH,
                algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE,
            )
        input_name = Interpreter(model_path=str(float_path)).get_signature_list()[_SIGNATURE]["inputs"][0]
        rng = np.random.default_rng(seed)
        samples = [{input_name: rng.standard_normal(input_shape(res), dtype=np.float32)}
                   for _ in range(calibration_samples)]
        # One thread: the calibrated ranges, hence the file's bytes, must not depend on the host.
        calibration = q.calibrate({_SIGNATURE: samples}, num_threads=1)
        q.quantize(calibration, enable_progress_report=False).export_model(str(path), overwrite=True)
    return path
