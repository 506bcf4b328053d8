"""The runtimes, by name; each implements runtimes.base.Runtime."""
from __future__ import annotations

from ..errors import UserError

RUNTIMES = ("litert", "onnxruntime", "torch")
# the artifact format each runtime runs by default
DEFAULT_FORMAT = {"litert": "tflite", "onnxruntime": "onnx", "torch": "torch"}


def get_runtime(name: str, *, xnnpack: bool = True, ort_opt_level: str = "all"):
    if name == "litert":
        from .litert import LiteRtRuntime
        return LiteRtRuntime(xnnpack=xnnpack)
    if name == "onnxruntime":
        from .onnxruntime import OPT_LEVELS, OnnxRuntime
        if ort_opt_level not in OPT_LEVELS:
            raise UserError(f"unknown ONNX Runtime optimisation level {ort_opt_level!r}; allowed: {', '.join(OPT_LEVELS)}")
        return OnnxRuntime(ort_opt_level)
    if name == "torch":
        from .torch_eager import TorchRuntime
        return TorchRuntime()
    raise UserError(f"unknown runtime {name!r}; allowed: {', '.join(RUNTIMES)}")


def runtime_for_format(fmt: str):
    return get_runtime("onnxruntime" if fmt == "onnx" else "litert")
