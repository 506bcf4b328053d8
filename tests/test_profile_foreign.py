"""`profile` of model files other tools made: rows per block of the model, found from the module
paths the exporters leave in node and tensor names; --group-depth and --per-op on the same file."""
import json

import pytest

from conftest import FAST

BLOCKS = 11   # torchvision's MobileNetV3-Small has 13; >= 10 is what the issue asks to see
RES = 32
BY_BLOCK = [f"features.{i}" for i in range(BLOCKS)] + ["avgpool", "classifier"]


def torchvision_like():
    """torchvision's MobileNetV3 nesting, without torchvision (it does not import here): `features`
    a Sequential of blocks, each a Sequential of conv, batchnorm and activation; `avgpool`; and a
    Sequential `classifier`."""
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.Hardswish())

    class TorchvisionLike(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*[block(3 if i == 0 else 16, 16, 2 if i in (0, 3) else 1)
                                            for i in range(BLOCKS)])
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Linear(16, 32), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(32, 10))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    torch.manual_seed(0)
    return TorchvisionLike().eval()


def export_onnx(path, *, dynamo: bool):
    import torch

    torch.onnx.export(torchvision_like(), (torch.zeros(1, 3, RES, RES),), str(path), dynamo=dynamo,
                      input_names=["input"], output_names=["output"])
    return path


@pytest.fixture(scope="module")
def foreign_onnx(tmp_path_factory):
    # the legacy exporter, as torchvision's published exports and most files in the wild were made:
    # module paths in the node names (`/features/features.0/features.0.0/Conv`)
    return export_onnx(tmp_path_factory.mktemp("foreign") / "torchvision_like.onnx", dynamo=False)


@pytest.fixture(scope="module")
def foreign_tflite(tmp_path_factory):
    from mbv3bench.export.tflite import export_tflite

    return export_tflite(torchvision_like(), RES, tmp_path_factory.mktemp("foreign") / "torchvision_like.tflite")


def profile(cli, path, *args) -> dict:
    code, out, err = cli("profile", str(path), "--json", *FAST, *args)
    assert code == 0, err
    return json.loads(out)["results"][0]


def names(result: dict) -> list[str]:
    return [row["name"] for row in result["per_layer"]]


def test_foreign_onnx_is_grouped_by_block(cli, foreign_onnx):
    r = profile(cli, foreign_onnx)
    assert r["runtime"] == "onnxruntime" and r["madds"] is None
    assert names(r) == BY_BLOCK
    assert r["per_layer_grouping"] == {"depth": 2, "auto": True, "within": ["features"]}
    assert all(set(row) == {"name", "op", "ms"} and row["ms"] >= 0 for row in r["per_layer"])
    assert "Conv" in r["per_layer"][0]["op"] and r["per_layer_sum_ms"] > 0


def test_foreign_onnx_of_the_dynamo_exporter_is_grouped_by_block(cli, tmp_path):
    # torch's newer exporter names nodes `node_Conv_12` and records the module path beside them
    r = profile(cli, export_onnx(tmp_path / "dynamo.onnx", dynamo=True))
    assert names(r) == BY_BLOCK


def test_foreign_onnx_at_a_depth_asked_for(cli, foreign_onnx):
    r = profile(cli, foreign_onnx, "--group-depth", "1")
    assert names(r) == ["features", "avgpool", "classifier"]
    assert r["per_layer_grouping"] == {"depth": 1, "auto": False, "within": []}


def test_foreign_onnx_per_op(cli, foreign_onnx):
    r = profile(cli, foreign_onnx, "--per-op")
    assert r["per_layer_grouping"]["depth"] is None
    rows = r["per_layer"]
    # one row per executed node, under the runtime's own node names, each of one op type
    assert len(rows) > len(BY_BLOCK) and len({row["name"] for row in rows}) == len(rows)
    assert all(row["op"] and ", " not in row["op"] for row in rows)
    assert any("features.0" in row["name"] for row in rows) and {"Conv"} <= {row["op"] for row in rows}


def test_profile_table_says_how_rows_are_grouped(cli, foreign_onnx):
    code, out, err = cli("profile", str(foreign_onnx), *FAST)
    assert code == 0, err
    assert "per module at depth 2 in features (chosen automatically)" in out
    assert all(name in out for name in BY_BLOCK)


@pytest.mark.parametrize("args, says", [
    (["--group-depth", "0"], "--group-depth"),
    (["--group-depth", "two"], "--group-depth"),
    (["--group-depth", "2", "--per-op"], "exclude each other"),
])
def test_bad_grouping_options_are_one_line(cli, foreign_onnx, args, says):
    code, out, err = cli("profile", str(foreign_onnx), *args)
    assert code == 2 and says in err and err.startswith("error:") and err.count("\n") == 1 and not out


def test_foreign_tflite_is_grouped_by_block(cli, foreign_tflite):
    # litert-torch names tensors after the module path too; a file of its own making, but not ours
    r = profile(cli, foreign_tflite)
    assert r["runtime"] == "litert" and r["madds"] is None
    assert names(r) == BY_BLOCK
    assert r["per_layer_grouping"] == {"depth": 2, "auto": True, "within": ["features"]}
    assert names(profile(cli, foreign_tflite, "--group-depth", "1")) == ["features", "avgpool", "classifier"]


def test_foreign_tflite_per_op_rows_name_their_module(cli, foreign_tflite):
    rows = profile(cli, foreign_tflite, "--per-op")["per_layer"]
    assert len(rows) > len(BY_BLOCK)
    # XNNPACK's operator names say nothing of the model; each row says which module it ran for
    modules = [row["name"].split(": ")[0] for row in rows]
    assert modules[0].startswith("features.0.") and modules[-1].startswith("classifier.")
    assert {f"features.{i}" for i in range(BLOCKS)} <= {m.rsplit(".", 1)[0] for m in modules}
