"""Exporters and runtimes on a small MobileNetV3-shaped module with the paper's layer names."""
from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from ai_edge_litert.interpreter import Interpreter
from torch import nn

from mbv3bench.export.onnx import export_onnx
from mbv3bench.runtimes.onnx_layers import node_layer, node_path, onnx_node_paths
from mbv3bench.export.tflite import export_tflite, export_tflite_int8
from mbv3bench.runtimes.onnxruntime import OnnxRuntime
from mbv3bench.runtimes.torch_eager import TorchRuntime

RES = 128
LAYERS = ["stem", "bneck1", "bneck2", "last_conv", "pool", "head_conv", "classifier"]


class NaiveHardSwish(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3) / 6


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, squeeze: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class Bneck(nn.Module):
    def __init__(self, c: int, expanded: int, act: type[nn.Module]):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(c, expanded, 1, bias=False), nn.BatchNorm2d(expanded), act())
        self.dw = nn.Sequential(nn.Conv2d(expanded, expanded, 3, padding=1, groups=expanded, bias=False),
                                nn.BatchNorm2d(expanded), act())
        self.se = SqueezeExcite(expanded, 8)
        self.project = nn.Sequential(nn.Conv2d(expanded, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.project(self.se(self.dw(self.expand(x))))


def _conv_bn_hswish(c_in: int, c_out: int, **kw) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, bias=False, **kw), nn.BatchNorm2d(c_out), nn.Hardswish())


@pytest.fixture(scope="session")
def model() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(OrderedDict(
        stem=_conv_bn_hswish(3, 16, kernel_size=3, stride=2, padding=1),
        bneck1=Bneck(16, 32, nn.ReLU),
        bneck2=Bneck(16, 48, NaiveHardSwish),
        last_conv=_conv_bn_hswish(16, 96, kernel_size=1),
        pool=nn.AdaptiveAvgPool2d(1),
        head_conv=nn.Sequential(nn.Conv2d(96, 128, 1), nn.Hardswish()),
        classifier=nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, 10)),
    ))
    # Non-trivial running stats: folding them wrongly would change the outputs.
    for bn in (mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        nn.init.uniform_(bn.weight, 0.5, 1.5)
        nn.init.uniform_(bn.bias, -0.2, 0.2)
    return m.eval()


def _inputs(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 1, 3, RES, RES), dtype=np.float32)


@pytest.fixture(scope="session")
def x() -> np.ndarray:
    return _inputs(1)[0]


@pytest.fixture(scope="session")
def reference(model, x) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="session")
def onnx_path(model, tmp_path_factory):
    return export_onnx(model, RES, tmp_path_factory.mktemp("onnx") / "m.onnx")


@pytest.fixture(scope="session")
def tflite_paths(model, tmp_path_factory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("tflite")
    paths = {}
    for name, export in [("fp32", lambda p: export_tflite(model, RES, p)),
                         ("int8", lambda p: export_tflite_int8(model, RES, p, float_hswish=False)),
                         ("int8_float_hswish", lambda p: export_tflite_int8(model, RES, p, float_hswish=True))]:
        start = time.perf_counter()
        paths[name] = export(d / f"{name}.tflite")
        print(f"export {name}: {time.perf_counter() - start:.1f} s")
    return paths


def _tflite_run(path, x: np.ndarray) -> np.ndarray:
    """Float output for a float input, quantizing/dequantizing at an int8 model's edges."""
    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if inp["dtype"] == np.int8:
        scale, zero = inp["quantization"]
        x = np.clip(np.round(x / scale) + zero, -128, 127).astype(np.int8)
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    y = interpreter.get_tensor(out["index"])
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        y = (y.astype(np.float32) - zero) * scale
    return y


def _hard_swish_dtypes(path) -> set[str]:
    interpreter = Interpreter(model_path=str(path))
    dtypes = {t["index"]: t["dtype"].__name__ for t in interpreter.get_tensor_details()}
    return {dtypes[i] for op in interpreter._get_ops_details() if op["op_name"] == "HARD_SWISH"
            for i in [*op["inputs"], *op["outputs"]]}


def test_onnx_export_folds_bn_and_keeps_hswish_forms(onnx_path):
    nodes = onnx.load(str(onnx_path)).graph.node
    assert not [n for n in nodes if n.op_type == "BatchNormalization"]
    hswish = [node_layer(n.name, module_paths=True) for n in nodes if n.op_type == "HardSwish"]
    assert hswish.count("stem") == 1
    assert "bneck2" not in hswish
    assert {"Clip", "Mul", "Div"} <= {n.op_type for n in nodes if node_layer(n.name, module_paths=True) == "bneck2"}


def test_onnx_node_paths(onnx_path):
    paths = onnx_node_paths(onnx_path)
    assert paths["/stem/stem.0/Conv"] == ("stem", "stem.0")
    assert {path[0] for path in paths.values()} == set(LAYERS)
    assert node_layer("/Add", module_paths=True) is None
    assert node_layer("Identity_30", module_paths=True) is None
    assert node_path("/features/features.0/features.0.0/Conv", module_paths=True) == (
        "features", "features.0", "features.0.0")
    # Names from other exporters.
    assert node_layer("features.3.conv/Conv", module_paths=False) == "features"
    assert node_path("features.3.conv/Conv", module_paths=False) == (
        "features", "features.3", "features.3.conv", "features.3.conv/Conv")
    assert node_layer("node_Conv_12", module_paths=False) == "node_Conv_12"
    assert node_layer("", module_paths=False) is None


def test_onnx_export_reproducible(model, onnx_path, tmp_path):
    assert export_onnx(model, RES, tmp_path / "again.onnx").read_bytes() == onnx_path.read_bytes()


@pytest.mark.parametrize("opt_level", ["all", "disable"])
def test_onnxruntime_output_and_profile(onnx_path, x, reference, opt_level):
    runtime = OnnxRuntime(opt_level)
    session = runtime.load(onnx_path, threads=1)
    runtime.bind_input(session, x)
    runtime.run(session)
    assert np.abs(runtime.outputs(session)[0] - reference).max() < 1e-4

    # Profile and timed runs alternate, so that load from other processes hits both alike.
    profiled_ms = timed_ms = 0.0
    for _ in range(5):
        rows = runtime.profile(onnx_path, threads=1, x=x, runs=20).ops
        assert rows and all(row.layer in LAYERS for row in rows), [r for r in rows if r.layer not in LAYERS]
        profiled_ms += sum(row.ms for row in rows)
        start = time.perf_counter()
        for _ in range(20):
            runtime.run(session)
        timed_ms += (time.perf_counter() - start) / 20 * 1e3
    ratio = profiled_ms / timed_ms
    print(f"ORT {opt_level}: profile sum / mean inference = {ratio:.2f} ({timed_ms / 5:.3f} ms)")
    assert 0.5 <= ratio <= 1.5


def test_onnxruntime_unknown_opt_level():
    from mbv3bench.core.errors import UserError
    from mbv3bench.runtimes import get_runtime

    with pytest.raises(UserError, match="disable, basic, extended, all"):
        get_runtime("onnxruntime", ort_opt_level="max")


def test_torch_runtime(model, x, reference):
    runtime = TorchRuntime()
    session = runtime.load(model, threads=1)
    runtime.bind_input(session, x)
    runtime.run(session)
    assert np.abs(runtime.outputs(session)[0] - reference).max() < 1e-5
    rows = runtime.profile(model, threads=1, x=x, runs=10).ops
    assert [row.layer for row in rows] == LAYERS
    assert rows[0].op == "Sequential" and all(row.ms > 0 for row in rows)


def test_tflite_fp32_matches_torch(tflite_paths, x, reference):
    assert np.abs(_tflite_run(tflite_paths["fp32"], x) - reference).max() < 1e-4


def test_tflite_int8(tflite_paths, model):
    for flavour in ("int8", "int8_float_hswish"):
        assert Interpreter(model_path=str(tflite_paths[flavour])).get_input_details()[0]["dtype"] == np.int8
    assert _hard_swish_dtypes(tflite_paths["int8"]) == {"int8"}
    assert _hard_swish_dtypes(tflite_paths["int8_float_hswish"]) == {"float32"}

    inputs = _inputs(8, seed=2)
    with torch.inference_mode():
        expected = [model(torch.from_numpy(x)).argmax().item() for x in inputs]
    for flavour in ("int8", "int8_float_hswish"):
        agreement = np.mean([_tflite_run(tflite_paths[flavour], x).argmax() == e for x, e in zip(inputs, expected)])
        print(f"top-1 agreement {flavour} vs torch (random weights, meaningless): {agreement:.2f}")
        assert 0.0 <= agreement <= 1.0


def test_tflite_int8_reproducible(model, tflite_paths, tmp_path):
    again = export_tflite_int8(model, RES, tmp_path / "again.tflite", float_hswish=True)
    assert again.read_bytes() == tflite_paths["int8_float_hswish"].read_bytes()


def test_onnx_node_paths_from_scope_records(tmp_path):
    from onnx import TensorProto, helper

    def node(op, i, o, scopes=None):
        n = helper.make_node(op, [i], [o], name=f"node_{op}_{o}")
        if scopes is not None:
            n.metadata_props.add(key="pkg.torch.onnx.name_scopes", value=scopes)
        return n

    graph = helper.make_graph(
        [node("Relu", "x", "a", "['', 'features', 'features.0', 'features.0.2', 'relu']"),
         node("Identity", "a", "b"),                        # a graph pass's node: no module
         node("Relu", "b", "c", "not a list literal ["),   # unreadable: no module either
         node("Sigmoid", "c", "y", "['', 'classifier', 'sigmoid']")],
        "scoped", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "scoped.onnx"
    onnx.save(helper.make_model(graph), str(path))
    paths = onnx_node_paths(path)
    assert paths["node_Relu_a"] == ("features", "features.0", "features.0.2") == paths["a"]
    assert paths["node_Sigmoid_y"] == ("classifier",)
    assert "node_Identity_b" not in paths and "node_Relu_c" not in paths
