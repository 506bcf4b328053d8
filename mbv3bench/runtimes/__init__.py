"""The runtimes, by name (core.registry lists them); each implements runtimes.base.Runtime."""
from __future__ import annotations

from ..core.registry import check_ort_opt_level, check_runtime


def get_runtime(name: str, *, xnnpack: bool = True, ort_opt_level: str = "all"):
    check_runtime(name)
    if name == "litert":
        from .litert import LiteRtRuntime
        return LiteRtRuntime(xnnpack=xnnpack)
    if name == "onnxruntime":
        from .onnxruntime import OnnxRuntime
        return OnnxRuntime(check_ort_opt_level(ort_opt_level))
    if name == "executorch":
        from .executorch import ExecuTorchRuntime
        return ExecuTorchRuntime()
    from .torch_eager import TorchRuntime
    return TorchRuntime()
