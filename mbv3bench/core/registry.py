"""Every name the tool accepts for formats, runtimes, precisions and statistics, and the protocol's defaults:
written once here (torch-free), read by the CLI, the runner, the exporters and the reports. Every
name check and its one-line error come from here too."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str          # the artifact file's suffix; "" where there is no file (torch builds in the worker)
    runtime: str         # the runtime that runs it
    precision: str
    help: str


FORMATS = {f.name: f for f in (
    Format("tflite", ".tflite", "litert", "fp32", "float32 TFLite, converted by litert-torch"),
    Format("tflite-int8", ".tflite", "litert", "int8", "full-integer int8 TFLite (ai-edge-quantizer)"),
    Format("tflite-int8-fhs", ".tflite", "litert", "int8-fhs", "int8 TFLite with HARD_SWISH kept in float"),
    Format("onnx", ".onnx", "onnxruntime", "fp32", "ONNX opset 17, BatchNorm folded"),
    Format("pte", ".pte", "executorch", "fp32", "ExecuTorch program, XNNPACK delegate (torch.export)"),
    Format("pte-int8", ".pte", "executorch", "int8", "ExecuTorch int8 program (pt2e, XNNPACKQuantizer per-channel)"),
    Format("torch", "", "torch", "fp32", "the torch module itself (eager)"),
)}
EXPORT_FORMATS = tuple(name for name, f in FORMATS.items() if f.suffix)
RUNTIMES = ("litert", "onnxruntime", "executorch", "torch")
# the package whose version is the runtime's (a saved document records them; compare checks them)
RUNTIME_PACKAGES = {"litert": "ai-edge-litert", "onnxruntime": "onnxruntime", "executorch": "executorch", "torch": "torch"}
# Runtimes whose libraries load side by side in one worker process: their cells are measured in the
# same rounds, so a cross-runtime ratio is paired like one between variants. Each other runtime
# is measured in rounds of its own.
SHARED_WORKER_RUNTIMES = ("litert", "executorch", "onnxruntime")
PRECISIONS = ("fp32", "int8", "int8-fhs")
# what a kind of device (devices/*.yaml `kind`) can run, and what `run` measures there by default:
# a phone runs .tflite files through TFLite's benchmark_model and .pte programs through ExecuTorch's
# executor_runner (targets/android/phone_binary.py)
DEVICE_RUNTIMES = {"local": RUNTIMES, "android": ("litert", "executorch")}
DEFAULT_RUNTIMES = {"local": ("litert", "onnxruntime"), "android": ("litert",)}
ORT_OPT_LEVELS = ("disable", "basic", "extended", "all")
# a file another tool made: its suffix says its format
FILE_SUFFIXES = {".onnx": "onnx", ".tflite": "tflite", ".pte": "pte"}
# What a result is headlined by: this quantile of its block medians (measure/blockstats.py), the
# one definition `run`, `table`, `compare` and the lookup tables share. A result recorded before
# the statistic was is "median".
STATISTICS = {"median": 0.5, "p10": 0.1, "min": 0.0}
# `plot --figure` names, and the file each is in a report folder
FIGURE_FILES = {"1": "figure1", "2": "figure2", "7": "figure7", "8": "figure8", "9": "figure9",
                "layers": "layers", "roofline": "roofline"}


@dataclass(frozen=True)
class ProtocolDefaults:
    """benchmark_model's semantics; the CLI's option defaults and the Protocol's are these."""
    runs: int = 50              # per cell and process: timed invokes at least
    min_secs: float = 1.0       # per process: seconds of timed rounds at least
    warmup_runs: int = 10
    warmup_secs: float = 0.5
    max_secs: float = 30.0      # per group of cells measured together: wall seconds at most
    profile_runs: int = 20
    processes: int = 3          # at least; more until --target-ci is met or --max-secs is up
    threads: int = 1
    block_runs: int = 10        # invokes per block: short enough that drift within one is small
    target_ci: float = 2.0      # percent: the half-width every interval is measured down to
    statistic: str = "min"      # the headline, and the interval --target-ci measures down (STATISTICS; README: why)


PROTOCOL = ProtocolDefaults()
# The main job's (`run --paper`, `make run`): what fits ~27 cells in a few minutes on a 2-core machine.
# 3 processes per group, no adaptive extension: t intervals over 3 processes (2 degrees of freedom),
# wide, and said so.
PAPER_JOB_PROTOCOL = ProtocolDefaults(runs=20, min_secs=0.5, warmup_runs=5, warmup_secs=0.3, profile_runs=10,
                                      processes=3, target_ci=0.0)


def _check(kind: str, name: str, allowed) -> str:
    if name not in allowed:
        raise UserError(f"unknown {kind} {name!r}; allowed: {', '.join(allowed)}")
    return name


def package_versions(packages) -> dict:
    """The installed version of each package (None: not installed)."""
    from importlib import metadata

    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def runtime_versions() -> dict:
    """What a measurement ran with: each runtime's package version."""
    return package_versions(RUNTIME_PACKAGES.values())


def check_runtime(name: str) -> str:
    return _check("runtime", name, RUNTIMES)


def device_runtimes(kind: str, device: str, asked: list[str] | None) -> list[str]:
    """The runtimes to measure on `device` (of `kind`): the ones asked, each checked to be one the
    device can run, or (None) the kind's default."""
    if asked is None:
        return list(DEFAULT_RUNTIMES[kind])
    can = DEVICE_RUNTIMES[kind]
    for name in asked:
        if check_runtime(name) not in can:
            raise UserError(f"runtime {name} cannot run on device {device} ({kind}); it runs: {', '.join(can)}")
    return asked


def check_precision(name: str) -> str:
    return _check("precision", name, PRECISIONS)


def check_statistic(name: str) -> str:
    return _check("statistic", name, STATISTICS)


def check_format(name: str, *, exportable: bool = False) -> str:
    return _check("format", name, EXPORT_FORMATS if exportable else tuple(FORMATS))


def check_ort_opt_level(name: str) -> str:
    return _check("ONNX Runtime optimisation level", name, ORT_OPT_LEVELS)


def format_of(runtime: str, precision: str) -> str | None:
    """The artifact format a runtime measures at a precision; None where it has none (int8 exists
    only as TFLite)."""
    check_runtime(runtime)
    check_precision(precision)
    return next((f.name for f in FORMATS.values() if f.runtime == runtime and f.precision == precision), None)


def require_format(runtime: str, precision: str) -> str:
    """format_of, for a table or figure that needs the format to exist."""
    fmt = format_of(runtime, precision)
    if fmt is None:
        have = [f.runtime for f in FORMATS.values() if f.precision == precision]
        raise UserError(f"precision {precision} exists only for runtime {', '.join(have)}: use --runtime {have[0]}")
    return fmt


def worker_group(runtime: str) -> str:
    """The runtimes measured in the same rounds as `runtime`, by name."""
    return "+".join(SHARED_WORKER_RUNTIMES) if runtime in SHARED_WORKER_RUNTIMES else runtime


def native_runtime(fmt: str) -> str:
    return FORMATS[check_format(fmt)].runtime
