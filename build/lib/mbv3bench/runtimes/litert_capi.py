"""ctypes binding over the LiteRT C API in ai_edge_litert/libLiteRt.so.

The Python `CompiledModel` of ai-edge-litert exposes no profiler; the C API does
(LiteRtCompiledModelGetProfiler), so this module drives libLiteRt.so directly.
Declarations follow litert/c/litert_*.h of google-ai-edge/LiteRT.
"""

from __future__ import annotations

import ctypes
import importlib.util
import weakref
from ctypes import POINTER, byref, c_char_p, c_float, c_int, c_int32, c_int64, c_size_t, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KERNEL_MODES = ("delegate", "builtin", "reference")

_HW_ACCELERATOR_CPU = 1
_LOCK_READ, _LOCK_WRITE = 0, 1
_QUANT_PER_TENSOR = 1
_STATUS_NAMES = {
    1: "InvalidArgument", 2: "MemoryAllocationFailure", 3: "RuntimeFailure", 4: "MissingInputTensor",
    5: "Unsupported", 6: "NotFound", 9: "Unknown", 500: "FileIO", 501: "InvalidFlatbuffer",
}
# LiteRtElementType values are TfLiteType values.
_DTYPES = {
    1: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_, 7: np.int16,
    9: np.int8, 10: np.float16, 11: np.float64, 13: np.uint64, 16: np.uint32, 17: np.uint16,
}


class LiteRtError(RuntimeError):
    pass


@dataclass(frozen=True)
class ProfileEvent:
    """One ProfiledEventData; times in whole microseconds (XNNPACK events have start_us 0)."""
    tag: str
    type: int
    start_us: int
    elapsed_us: int
    md1: int
    md2: int
    source: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    quantization: tuple[float, int] | None  # (scale, zero_point) for per-tensor quantized tensors


class _Layout(ctypes.Structure):
    _fields_ = [("rank", c_uint32, 7), ("has_strides", c_uint32, 1),
                ("dimensions", c_int32 * 8), ("strides", c_uint32 * 8)]


class _RankedTensorType(ctypes.Structure):
    _fields_ = [("element_type", c_int), ("layout", _Layout)]


class _QuantPerTensor(ctypes.Structure):
    _fields_ = [("scale", c_float), ("zero_point", c_int64)]


class _MemoryUsage(ctypes.Structure):
    _fields_ = [("total", c_size_t), ("in_use", c_size_t), ("private_footprint", c_size_t)]


class _ProfiledEventData(ctypes.Structure):
    _fields_ = [("tag", c_char_p), ("event_type", c_int), ("start_us", c_uint64), ("elapsed_us", c_uint64),
                ("begin_mem", _MemoryUsage), ("end_mem", _MemoryUsage),
                ("md1", c_uint64), ("md2", c_uint64), ("source", c_int)]


_H = c_void_p
_PH = POINTER(c_void_p)
# Every function returns LiteRtStatus unless listed in _VOID.
_SIGNATURES = {
    "LiteRtCreateEnvironment": (c_int, c_void_p, _PH),
    "LiteRtCreateModelFromFile": (_H, c_char_p, _PH),
    "LiteRtCreateOptions": (_PH,),
    "LiteRtSetOptionsHardwareAccelerators": (_H, c_int),
    "LiteRtCreateOpaqueOptions": (c_char_p, c_void_p, c_void_p, _PH),
    "LiteRtAddOpaqueOptions": (_H, _H),
    "LiteRtCreateCompiledModel": (_H, _H, _H, _PH),
    "LiteRtGetModelSignature": (_H, c_size_t, _PH),
    "LiteRtGetNumSignatureInputs": (_H, POINTER(c_size_t)),
    "LiteRtGetNumSignatureOutputs": (_H, POINTER(c_size_t)),
    "LiteRtGetSignatureInputName": (_H, c_size_t, POINTER(c_char_p)),
    "LiteRtGetSignatureOutputName": (_H, c_size_t, POINTER(c_char_p)),
    "LiteRtGetSignatureInputTensorByIndex": (_H, c_size_t, _PH),
    "LiteRtGetSignatureOutputTensorByIndex": (_H, c_size_t, _PH),
    "LiteRtGetRankedTensorType": (_H, POINTER(_RankedTensorType)),
    "LiteRtGetQuantizationTypeId": (_H, POINTER(c_int)),
    "LiteRtGetPerTensorQuantization": (_H, POINTER(_QuantPerTensor)),
    "LiteRtGetCompiledModelInputBufferRequirements": (_H, c_size_t, c_size_t, _PH),
    "LiteRtGetCompiledModelOutputBufferRequirements": (_H, c_size_t, c_size_t, _PH),
    "LiteRtCreateManagedTensorBufferFromRequirements": (_H, POINTER(_RankedTensorType), _H, _PH),
    "LiteRtLockTensorBuffer": (_H, _PH, c_int),
    "LiteRtUnlockTensorBuffer": (_H,),
    "LiteRtRunCompiledModel": (_H, c_size_t, c_size_t, _PH, c_size_t, _PH),
    "LiteRtCompiledModelGetProfiler": (_H, _PH),
    "LiteRtResetProfiler": (_H,),
    "LiteRtStartProfiler": (_H,),
    "LiteRtGetNumProfilerEvents": (_H, POINTER(c_int)),
    "LiteRtGetProfilerEvents": (_H, c_int, POINTER(_ProfiledEventData)),
    "LiteRtGetProfileSummary": (_H, _H, POINTER(c_void_p)),
    "LiteRtDestroyOpaqueOptions": (_H,),
    "LiteRtDestroyTensorBuffer": (_H,),
    "LiteRtDestroyCompiledModel": (_H,),
    "LiteRtDestroyOptions": (_H,),
    "LiteRtDestroyModel": (_H,),
    "LiteRtDestroyEnvironment": (_H,),
}
_VOID = {name for name in _SIGNATURES if name.startswith("LiteRtDestroy")}

_lib_cache: ctypes.CDLL | None = None
_libc = ctypes.CDLL(None)
_libc.strdup.restype = c_void_p
_libc.strdup.argtypes = (c_char_p,)
_libc.free.argtypes = (c_void_p,)


def _lib() -> ctypes.CDLL:
    global _lib_cache
    if _lib_cache is None:
        # find_spec avoids importing ai_edge_litert (and its pybind runtime) just to locate the .so.
        pkg_dir = Path(importlib.util.find_spec("ai_edge_litert").submodule_search_locations[0])
        lib = ctypes.CDLL(str(pkg_dir / "libLiteRt.so"))
        for name, argtypes in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = None if name in _VOID else c_int
        _lib_cache = lib
    return _lib_cache


def _check(name: str, *args) -> None:
    status = getattr(_lib(), name)(*args)
    if status != 0:
        raise LiteRtError(f"{name} failed: status {status} ({_STATUS_NAMES.get(status, 'unknown')})")


def _destroy_all(owned: list[tuple[str, int]]) -> None:
    # Reverse acquisition order: buffers, compiled model, options, model, environment.
    while owned:
        name, handle = owned.pop()
        getattr(_lib(), name)(handle)


class CompiledModel:
    """One LiteRT compiled model on the CPU, signature 0, with host-memory tensor buffers."""

    def __init__(self, path: str | Path, *, kernel_mode: str = "delegate", threads: int = 1,
                 profiling: bool = False):
        if kernel_mode not in KERNEL_MODES:
            raise ValueError(f"unknown kernel_mode {kernel_mode!r}; allowed: {', '.join(KERNEL_MODES)}")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no such model file: {self.path}")
        self.kernel_mode = kernel_mode
        self._owned: list[tuple[str, int]] = []
        self._finalizer = weakref.finalize(self, _destroy_all, self._owned)
        self._cm = None
        try:
            self._open(kernel_mode, threads, profiling)
        except BaseException:
            self.close()
            raise

    def _new(self, destroyer: str, creator: str, *args) -> int:
        handle = c_void_p()
        _check(creator, *args, byref(handle))
        self._owned.append((destroyer, handle.value))
        return handle.value

    def _open(self, kernel_mode: str, threads: int, profiling: bool) -> None:
        env = self._new("LiteRtDestroyEnvironment", "LiteRtCreateEnvironment", 0, None)
        try:
            model = self._new("LiteRtDestroyModel", "LiteRtCreateModelFromFile", env, str(self.path).encode())
        except LiteRtError as e:
            raise LiteRtError(f"{self.path}: not a loadable .tflite model ({e})") from None
        options = self._new("LiteRtDestroyOptions", "LiteRtCreateOptions")
        _check("LiteRtSetOptionsHardwareAccelerators", options, _HW_ACCELERATOR_CPU)
        # The Lrt*Options helpers are not exported; these TOML strings are what they serialize to.
        self._add_opaque_options(options, "xnnpack", f'kernel_mode = "{kernel_mode}"\nnum_threads = {threads}\n')
        if profiling:
            self._add_opaque_options(options, "runtime_options_string", "enable_profiling = true\n")
        self._cm = self._new("LiteRtDestroyCompiledModel", "LiteRtCreateCompiledModel", env, model, options)

        signature = c_void_p()
        _check("LiteRtGetModelSignature", model, 0, byref(signature))
        self.inputs, in_bufs = self._tensors(env, signature, "Input")
        self.outputs, out_bufs = self._tensors(env, signature, "Output")
        self._in_bufs = (c_void_p * len(in_bufs))(*in_bufs)
        self._out_bufs = (c_void_p * len(out_bufs))(*out_bufs)

        self._profiler = None
        if profiling:
            profiler = c_void_p()
            _check("LiteRtCompiledModelGetProfiler", self._cm, byref(profiler))
            if not profiler.value:
                raise LiteRtError("LiteRtCompiledModelGetProfiler returned no profiler")
            self._profiler = profiler.value  # owned by the compiled model

    def _add_opaque_options(self, options: int, identifier: str, toml: str) -> None:
        # The payload must be malloc'd: LiteRT frees it with the destructor we pass (libc free).
        payload = _libc.strdup(toml.encode())
        opaque = c_void_p()
        free_fn = ctypes.cast(_libc.free, c_void_p)
        try:
            _check("LiteRtCreateOpaqueOptions", identifier.encode(), payload, free_fn, byref(opaque))
        except LiteRtError:
            _libc.free(payload)
            raise
        try:
            _check("LiteRtAddOpaqueOptions", options, opaque)
        except LiteRtError:
            _lib().LiteRtDestroyOpaqueOptions(opaque)
            raise

    def _tensors(self, env: int, signature: c_void_p, kind: str) -> tuple[list[TensorInfo], list[int]]:
        count = c_size_t()
        _check(f"LiteRtGetNumSignature{kind}s", signature, byref(count))
        infos, buffers = [], []
        for i in range(count.value):
            name, tensor, requirements = c_char_p(), c_void_p(), c_void_p()
            _check(f"LiteRtGetSignature{kind}Name", signature, i, byref(name))
            _check(f"LiteRtGetSignature{kind}TensorByIndex", signature, i, byref(tensor))
            ttype = _RankedTensorType()
            _check("LiteRtGetRankedTensorType", tensor, byref(ttype))
            if ttype.element_type not in _DTYPES:
                raise LiteRtError(f"{kind.lower()} {name.value.decode()}: unsupported element type {ttype.element_type}")
            qtype = c_int()
            _check("LiteRtGetQuantizationTypeId", tensor, byref(qtype))
            quant = None
            if qtype.value == _QUANT_PER_TENSOR:
                q = _QuantPerTensor()
                _check("LiteRtGetPerTensorQuantization", tensor, byref(q))
                quant = (q.scale, q.zero_point)
            shape = tuple(ttype.layout.dimensions[: ttype.layout.rank])
            infos.append(TensorInfo(name.value.decode(), shape, np.dtype(_DTYPES[ttype.element_type]), quant))
            # Requirements stay owned by the compiled model.
            _check(f"LiteRtGetCompiledModel{kind}BufferRequirements", self._cm, 0, i, byref(requirements))
            buffers.append(self._new("LiteRtDestroyTensorBuffer", "LiteRtCreateManagedTensorBufferFromRequirements",
                                     env, byref(ttype), requirements))
        return infos, buffers

    def _live(self) -> int:
        if self._cm is None:
            raise ValueError("CompiledModel is closed")
        return self._cm

    def write_inputs(self, *arrays: np.ndarray) -> None:
        self._live()
        if len(arrays) != len(self.inputs):
            raise ValueError(f"expected {len(self.inputs)} input arrays, got {len(arrays)}")
        for info, array, buf in zip(self.inputs, arrays, self._in_bufs):
            array = np.asarray(array)
            if array.dtype != info.dtype or array.shape != info.shape:
                raise ValueError(f"input {info.name!r}: expected {info.dtype}{list(info.shape)}, "
                                 f"got {array.dtype}{list(array.shape)}")
            array = np.ascontiguousarray(array)
            host = c_void_p()
            _check("LiteRtLockTensorBuffer", buf, byref(host), _LOCK_WRITE)
            ctypes.memmove(host, array.ctypes.data, array.nbytes)
            _check("LiteRtUnlockTensorBuffer", buf)

    def invoke(self) -> None:
        _check("LiteRtRunCompiledModel", self._live(), 0, len(self._in_bufs), self._in_bufs,
               len(self._out_bufs), self._out_bufs)

    def read_outputs(self) -> list[np.ndarray]:
        self._live()
        results = []
        for info, buf in zip(self.outputs, self._out_bufs):
            out = np.empty(info.shape, info.dtype)
            host = c_void_p()
            _check("LiteRtLockTensorBuffer", buf, byref(host), _LOCK_READ)
            ctypes.memmove(out.ctypes.data, host, out.nbytes)
            _check("LiteRtUnlockTensorBuffer", buf)
            results.append(out)
        return results

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        self.write_inputs(*arrays)
        self.invoke()
        return self.read_outputs()

    def _profiler_handle(self) -> int:
        self._live()
        if self._profiler is None:
            raise ValueError("CompiledModel was created without profiling=True")
        return self._profiler

    def start_profiling(self) -> None:
        profiler = self._profiler_handle()
        _check("LiteRtResetProfiler", profiler)
        _check("LiteRtStartProfiler", profiler)

    def profile_events(self) -> list[ProfileEvent]:
        profiler = self._profiler_handle()
        count = c_int()
        _check("LiteRtGetNumProfilerEvents", profiler, byref(count))
        if count.value == 0:
            return []
        raw = (_ProfiledEventData * count.value)()
        _check("LiteRtGetProfilerEvents", profiler, count.value, raw)
        return [ProfileEvent((e.tag or b"").decode(errors="replace"), e.event_type, e.start_us, e.elapsed_us,
                             e.md1, e.md2, e.source) for e in raw]

    def profile_summary(self) -> str:
        text = c_void_p()
        _check("LiteRtGetProfileSummary", self._profiler_handle(), self._cm, byref(text))
        try:
            return ctypes.string_at(text.value).decode(errors="replace")
        finally:
            _libc.free(text)  # malloc'd by LiteRtGetProfileSummary

    def close(self) -> None:
        self._cm = None
        self._profiler = None
        self._finalizer()

    def __enter__(self) -> CompiledModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _example_input(info: TensorInfo, rng: np.random.Generator) -> np.ndarray:
    if info.dtype.kind == "f":
        return rng.standard_normal(info.shape).astype(info.dtype)
    return np.zeros(info.shape, info.dtype)


def profile_summary(path: str | Path, kernel_mode: str = "delegate", runs: int = 10, warmup: int = 2) -> str:
    """benchmark_model-style summary of `runs` profiled invocations on random inputs."""
    with CompiledModel(path, kernel_mode=kernel_mode, profiling=True) as cm:
        rng = np.random.default_rng(0)
        cm.write_inputs(*(_example_input(info, rng) for info in cm.inputs))
        for _ in range(warmup):
            cm.invoke()
        cm.start_profiling()
        for _ in range(runs):
            cm.invoke()
        return cm.profile_summary()
