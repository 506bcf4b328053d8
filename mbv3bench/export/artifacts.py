"""Exported model files, cached by a hash of what determines them.

The key covers the canonical variant, its spec file's bytes, the format, the seed and the exporter
versions, so a second run never exports again and a changed exporter or spec always does. A
manifest beside each file records its sha256; a file that no longer matches is reported, never used.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import UserError, one_line, shown
from ..core.output import check_folder
from ..core.registry import FILE_SUFFIXES, FORMATS, check_format, native_runtime, package_versions, runtime_versions
from ..core.untrusted import MiB, check_size, read_bytes, read_head
from ..runtimes.inputs import SEED, input_array
from ..zoo.arch import Network, resolve
from ..zoo.spec import SPEC_LIMIT, Variant, parse_variant, spec_path

EXPORTERS = ("mbv3bench", "torch", "onnx", "onnxscript", "litert-torch", "ai-edge-quantizer", "ai-edge-litert",
             "executorch", "torchao")
FLOAT_FORMATS = ("onnx", "tflite", "pte")   # checked by max abs error; the int8 ones by top-1 agreement
FP32_TOLERANCE = 1e-4   # max abs error of the logits against torch, relative to their scale when above 1
MANIFEST_LIMIT = 1 * MiB    # a manifest is about 1 KB
MODEL_LIMIT = 256 * MiB     # 10x the largest MobileNet-family model; onnx holds a file in memory twice over
MAX_INPUT_ELEMENTS = 1 << 26  # 256 MiB of float32 input: far beyond any image model's
# file systems cap a name at 255 bytes; the cache key in the name already tells long variants apart
MAX_NAME_CHARS = 100
REBUILD_HINT = "delete it, or pass --rebuild (export, run, profile) to export it again"


def artifact_dir() -> Path:
    return Path(os.environ.get("MBV3BENCH_ARTIFACTS", "reports/artifacts"))


@dataclass(frozen=True)
class Artifact:
    path: Path
    variant: str
    format: str
    sha256: str
    exporter: dict
    check: dict             # {"max_abs_err": ...} (float) or {"top1_agreement": ..., "max_abs_err": ...} (int8)
    cached: bool


def exporter_versions() -> dict:
    return package_versions(EXPORTERS)


def tool_versions() -> dict:
    """What a measurement ran with: the exporters and every runtime (recorded with each run)."""
    return {**exporter_versions(), **runtime_versions()}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _spec_hash(name: str) -> str:
    return hashlib.sha256(read_bytes(spec_path(name), SPEC_LIMIT, "model spec")).hexdigest()


def _key(v: Variant, fmt: str, versions: dict) -> str:
    # a detection or segmentation network is its backbone's spec too
    backbone = v.spec.backbone
    doc = json.dumps({"variant": str(v), "spec": _spec_hash(v.name), "format": fmt, "seed": SEED,
                      "exporters": versions, **({"backbone": _spec_hash(backbone)} if backbone else {})},
                     sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()


def io_layout(net: Network, fmt: str) -> tuple[bool, bool]:
    """(NHWC input, NHWC output) of the file. TFLite computes in NHWC, so a layer measured alone
    takes and gives NHWC, as its neighbours hand it over inside the network: in NCHW its time would
    include two TRANSPOSEs the network never runs. The stem keeps the network's NCHW image input
    (and the network's one TRANSPOSE). Whole networks and other formats are NCHW."""
    if not (net.is_part and FORMATS[fmt].suffix == ".tflite"):
        return False, False
    return net.layers[0].name != "stem", True


def model_input_shape(net: Network, fmt: str) -> tuple[int, ...]:
    """The input tensor the artifact of (net, fmt) takes, batch 1."""
    c, h, w = net.in_shape
    return (1, h, w, c) if io_layout(net, fmt)[0] else (1, c, h, w)


def _export(module, shape: tuple[int, ...], fmt: str, path: Path, etrecord: Path) -> None:
    if fmt in ("pte", "pte-int8"):
        from .pte import export_pte
        export_pte(module, shape, path, etrecord, int8=fmt == "pte-int8", seed=SEED)
    elif fmt == "onnx":
        from .onnx import export_onnx
        export_onnx(module, shape, path)
    elif fmt == "tflite":
        from .tflite import export_tflite
        export_tflite(module, shape, path)
    else:
        from .tflite import export_tflite_int8
        export_tflite_int8(module, shape, path, float_hswish=fmt == "tflite-int8-fhs", seed=SEED)


def _in_order(outputs: list[np.ndarray], wants: list[np.ndarray]) -> np.ndarray:
    """The runtime's outputs in the module's order, flattened end to end: a converter may order a
    detector's two outputs (boxes, classes) its own way, their sizes tell them apart."""
    left, ordered = list(outputs), []
    for w in wants:
        match = next((o for o in left if o.size == w.size), None)
        if match is None:
            raise RuntimeError(f"the artifact has no output of {w.size} values (the module's shape {w.shape})")
        left.remove(match)
        ordered.append(match.ravel())
    return np.concatenate(ordered)


def _check_numerics(module, shape: tuple[int, ...], v: Variant, fmt: str, path: Path) -> dict:
    """Runs the artifact in its runtime against the torch module on seeded random inputs."""
    import torch

    from ..runtimes import get_runtime

    runtime = get_runtime(native_runtime(fmt))
    session = runtime.load(path, 1)
    inputs = [input_array(shape, seed) for seed in range(1 if fmt in FLOAT_FORMATS else 8)]
    errors, agree = [], []
    for x in inputs:
        with torch.inference_mode():
            y = module(torch.from_numpy(x))
        wants = [t.numpy() for t in (y if isinstance(y, tuple) else (y,))]
        runtime.bind_input(session, x)
        runtime.run(session)
        want, got = np.concatenate([w.ravel() for w in wants]), _in_order(runtime.outputs(session), wants)
        errors.append(float(np.max(np.abs(got - want))))
        agree.append(bool(got.argmax() == want.argmax()))
    check = {"max_abs_err": max(errors), "logit_scale": float(np.max(np.abs(want)))}
    if fmt in FLOAT_FORMATS:
        limit = FP32_TOLERANCE * max(1.0, check["logit_scale"])
        if check["max_abs_err"] > limit:
            raise UserError(f"{fmt} export of {v} disagrees with torch: max abs error "
                            f"{check['max_abs_err']:.3g} > {limit:.3g} ({path})")
    else:
        check["top1_agreement"] = sum(agree) / len(agree)
        check["inputs"] = len(agree)
    return check


@contextlib.contextmanager
def _output_to(log: Path):
    """Exporters and runtimes print pages of progress and C++ logging: keep it in a file."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        # the descriptors for C++ logging, the Python streams for a caller that replaced them
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def cache_stem(v: Variant, fmt: str, key: str) -> Path:
    """The cache entry's path without its suffix; its name stays short whatever the variant."""
    return artifact_dir() / fmt / f"{re.sub(r'[^A-Za-z0-9_.=-]+', '_', str(v))[:MAX_NAME_CHARS]}.{key[:16]}"


def _well_formed(info, key: str) -> bool:
    """Whether a manifest holds what get_artifact wrote for this key (and finite checks only)."""
    if not isinstance(info, dict) or info.get("key") != key or not isinstance(info.get("exporter"), dict):
        return False
    sha, check = info.get("sha256"), info.get("check")
    return (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha) is not None and isinstance(check, dict)
            and {"max_abs_err", "logit_scale"} <= check.keys()
            and all(type(x) in (int, float) and math.isfinite(x) for x in check.values()))


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _cached(path: Path, manifest: Path, key: str, v: Variant, fmt: str) -> Artifact:
    """The cache entry, checked: an unreadable or wrong-shaped manifest or a changed file is a
    corrupted entry, reported rather than used."""
    try:
        info = json.loads(read_bytes(manifest, MANIFEST_LIMIT, "artifact manifest"), parse_constant=_no_constant)
    except (UserError, ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        info = None
    if not _well_formed(info, key):
        raise UserError(f"cached artifact {path} is corrupted (its manifest {manifest.name} is unreadable "
                        f"or not one this tool wrote); {REBUILD_HINT}")
    if sha256_file(path) != info["sha256"]:
        raise UserError(f"cached artifact {path} is corrupted (its sha256 differs from {manifest.name}); "
                        f"{REBUILD_HINT}")
    return Artifact(path, str(v), fmt, info["sha256"], info["exporter"], info["check"], cached=True)


def _entry(variant: Variant | str, fmt: str) -> tuple[Variant, dict, str, Path]:
    check_format(fmt, exportable=True)
    v = parse_variant(variant) if isinstance(variant, str) else variant
    versions = exporter_versions()
    key = _key(v, fmt, versions)
    return v, versions, key, Path(str(cache_stem(v, fmt, key)) + FORMATS[fmt].suffix)


def artifact_path(variant: Variant | str, fmt: str) -> Path:
    """Where the cache keeps (variant, format), exported or not yet: known before any export."""
    return _entry(variant, fmt)[3]


def in_cache(variant: Variant | str, fmt: str) -> bool:
    """Whether the cache has an entry for (variant, format), not yet checked (get_artifact checks it)."""
    path = artifact_path(variant, fmt)
    return path.is_file() and path.with_suffix(".json").is_file()


def get_artifact(variant: Variant | str, fmt: str, *, rebuild: bool = False) -> Artifact:
    """The cached artifact of (variant, format), exported and checked first if missing."""
    v, versions, key, path = _entry(variant, fmt)
    stem = str(path.with_suffix(""))
    manifest, log = Path(stem + ".json"), Path(stem + ".log")
    if manifest.is_file() and path.is_file() and not rebuild:
        return _cached(path, manifest, key, v, fmt)
    check_folder("the artifact cache", path.parent)   # before minutes of export, not after
    from ..zoo.build import build

    net = resolve(v)
    nhwc_in, nhwc_out = io_layout(net, fmt)
    module, shape = build(v, nhwc_in=nhwc_in, nhwc_out=nhwc_out), model_input_shape(net, fmt)
    tmp = Path(stem + ".partial" + FORMATS[fmt].suffix)
    etrecord = Path(stem + ".partial.etrecord")
    with _output_to(log):
        try:
            _export(module, shape, fmt, tmp, etrecord)
        except Exception as e:
            raise UserError(f"{fmt} export of {v} failed: {one_line(e)} (log: {log})") from None
        check = _check_numerics(module, shape, v, fmt, tmp)
    if etrecord.exists():   # before the program: a cached program always has its record beside it
        etrecord.replace(path.with_suffix(".etrecord"))
    tmp.replace(path)   # only a checked export gets the cache's name
    sha = sha256_file(path)
    manifest.write_text(json.dumps({"variant": str(v), "format": fmt, "key": key, "sha256": sha,
                                    "exporter": versions, "check": check, "created_at": time.time()}, indent=2))
    return Artifact(path, str(v), fmt, sha, versions, check, cached=False)


def _checked_shape(path: Path, dims) -> tuple[int, ...]:
    """The input shape to feed, symbolic or unknown dimensions (0, -1) measured at 1, refused when
    the input alone would fill memory."""
    shape = tuple(max(int(d), 1) for d in dims)
    if math.prod(shape) > MAX_INPUT_ELEMENTS:
        raise UserError(f"{path}: input shape {'x'.join(map(str, shape))} has more than "
                        f"{MAX_INPUT_ELEMENTS:,} elements, the limit")
    return shape


def _tflite_input(path: Path) -> tuple[int, ...]:
    head = read_head(path, 8)
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise UserError(f"{path}: not a TFLite model (no TFL3 flatbuffer identifier)")
    from ai_edge_litert.interpreter import Interpreter

    try:
        details = Interpreter(model_path=str(path)).get_input_details()
    except (ValueError, RuntimeError) as e:
        raise UserError(f"{path}: not a loadable TFLite model ({one_line(e)})") from None
    if not details:
        raise UserError(f"{path}: the model has no input")
    return _checked_shape(path, details[0]["shape"])


def _check_external_data(path: Path, model) -> None:
    """Weights kept in files beside the model (torch's dynamo exporter writes them) are read by the
    runtime too: each must be a regular file inside the model's folder, and all of them together
    within MODEL_LIMIT, like the model itself."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    folder = path.resolve().parent
    total = 0
    for location in {ExternalDataInfo(t).location for t in model.graph.initializer if uses_external_data(t)}:
        data = (folder / location).resolve()
        if folder not in data.parents:
            raise UserError(f"{path}: its external data {shown(location)} lies outside the model's folder")
        total += check_size(data, MODEL_LIMIT, "external data of a model")
    if total > MODEL_LIMIT:
        raise UserError(f"{path}: its external data files hold {total >> 20} MiB, more than the "
                        f"{MODEL_LIMIT >> 20} MiB a model may have")


def _onnx_input(path: Path) -> tuple[int, ...]:
    import onnx
    try:
        model = onnx.load(str(path), load_external_data=False)
        _check_external_data(path, model)
        onnx.checker.check_model(str(path))   # by path: it finds external data beside the file
    except UserError:
        raise
    except Exception as e:  # onnx raises several unrelated types for a bad file
        raise UserError(f"{path}: not a valid ONNX model ({one_line(e)})") from None
    initializers = {i.name for i in model.graph.initializer}
    first = next((i for i in model.graph.input if i.name not in initializers), None)
    if first is None:
        raise UserError(f"{path}: the model has no input")
    return _checked_shape(path, [d.dim_value for d in first.type.tensor_type.shape.dim])


def _pte_input(path: Path) -> tuple[int, ...]:
    head = read_head(path, 8)
    if len(head) < 8 or head[4:6] != b"ET":
        raise UserError(f"{path}: not an ExecuTorch program (no ET flatbuffer identifier)")
    from ..runtimes.executorch import input_shape_of

    try:
        return _checked_shape(path, input_shape_of(path))
    except (ValueError, RuntimeError) as e:
        raise UserError(f"{path}: not a loadable ExecuTorch program ({one_line(e)})") from None


def foreign_artifact(path: Path) -> tuple[str, tuple[int, ...]]:
    """The format and input shape of a model file the tool did not build, after checking it is one
    and that its size is within MODEL_LIMIT (the runtimes read it whole)."""
    path = Path(path)
    if path.suffix not in FILE_SUFFIXES:
        raise UserError(f"{path}: unknown model file type {shown(path.suffix)}; allowed: {', '.join(FILE_SUFFIXES)}")
    check_size(path, MODEL_LIMIT, "a model file")
    if path.suffix == ".tflite":
        return "tflite", _tflite_input(path)
    if path.suffix == ".pte":
        return "pte", _pte_input(path)
    return "onnx", _onnx_input(path)
