"""Detection (SSDLite) and segmentation (LR-ASPP, R-ASPP) networks: IDs, the built layers, exact
cost against torch's counter and against torchvision's own counts (tests/fixtures/torchvision),
and one export of each kind through the CLI."""
import csv
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mbv3bench.zoo.arch import resolve
from mbv3bench.zoo.build import build
from mbv3bench.zoo.cost import summary
from mbv3bench.zoo.spec import catalog, parse_variant

TORCHVISION = Path(__file__).parent / "fixtures" / "torchvision" / "counts.csv"
DENSE = ["ssdlite_mobilenet_v3_large", "ssdlite_mobilenet_v3_small", "ssdlite_mobilenet_v2", "ssdlite_mnasnet_a1",
         "lraspp_mobilenet_v3_large", "lraspp_mobilenet_v3_small", "lraspp_mobilenet_v2",
         "raspp_mobilenet_v3_large", "raspp_mobilenet_v2"]


def _layers(v):
    return {layer.name: layer for layer in resolve(v).layers}


def test_catalog_has_the_dense_networks():
    assert set(catalog()) >= set(DENSE)


@pytest.mark.parametrize("text, canonical", [
    ("ssdlite_mobilenet_v3_large:res=320x320,reduced_tail=false", "ssdlite_mobilenet_v3_large"),
    ("lraspp_mobilenet_v3_large:res=1024x2048,filters=128", "lraspp_mobilenet_v3_large"),
    ("lraspp_mobilenet_v3_large:res=512x1024,filters=256", "lraspp_mobilenet_v3_large:filters=256,res=512x1024"),
    ("raspp_mobilenet_v2:res=520x520", "raspp_mobilenet_v2:res=520"),
    # torchvision's SSDLite is the halved tail: saying so again is the same network
    ("ssdlite_mobilenet_v3_large:convention=torchvision,reduced_tail=true", "ssdlite_mobilenet_v3_large:convention=torchvision"),
])
def test_dense_ids_are_canonical(text, canonical):
    assert str(parse_variant(text)) == canonical and parse_variant(canonical) == parse_variant(text)


def test_ssdlite_taps_c4_expansion_and_c5_and_ends_at_raw_tensors():
    layers = _layers("ssdlite_mobilenet_v3_large")
    assert layers["box1"].inputs == ("bneck13.0",) and layers["box1"].in_shape == (672, 20, 20)
    assert layers["box2"].inputs == ("last_conv",) and layers["box2"].in_shape == (960, 10, 10)
    assert [layers[f"extra{i}"].out_shape for i in range(1, 5)] == [(512, 5, 5), (256, 3, 3), (256, 2, 2), (128, 1, 1)]
    assert "pool" not in layers and "classifier" not in layers
    reduced = _layers("ssdlite_mobilenet_v3_large:reduced_tail=true")
    assert reduced["box1"].in_shape == (672, 20, 20) and reduced["box2"].in_shape == (480, 10, 10)
    with torch.inference_mode():
        boxes, classes = build("ssdlite_mobilenet_v3_large")(torch.randn(1, 3, 320, 320))
    # 3 anchors on the 20x20 C4 map, 6 on the others (TF's SSD): 2034; torchvision's 6 everywhere: 3234
    assert boxes.shape == (1, 2034, 4) and classes.shape == (1, 2034, 91)


def test_segmentation_heads_read_the_papers_taps():
    lr = _layers("lraspp_mobilenet_v3_large:reduced_tail=true")
    assert lr["bneck13"].parts[1].dilation == 2 and lr["last_conv"].out_shape == (480, 64, 128)
    assert lr["bneck13"].parts[0].cout == 336          # RF2 halves the whole last block
    assert lr["seg_low"].inputs == ("bneck4.1",) and lr["seg_low"].in_shape == (72, 128, 256)
    assert lr["aspp_pool"].out_shape == (128, 1, 4)    # 49x49 at stride (16, 20) on 64x128
    assert lr["seg_out"].out_shape == (19, 1024, 2048)
    tv = _layers("lraspp_mobilenet_v3_large:convention=torchvision,res=520")
    assert tv["seg_low"].inputs == ("bneck4",) and tv["aspp_pool"].out_shape == (128, 1, 1)
    assert tv["seg_out"].out_shape == (21, 520, 520)
    ra = _layers("raspp_mobilenet_v2")
    assert "last_conv" not in ra and ra["aspp_conv"].in_shape == (320, 64, 128)
    assert ra["aspp_project"].parts[0].cin == 512


@pytest.mark.parametrize("variant", [
    "ssdlite_mobilenet_v3_large:res=160", "ssdlite_mobilenet_v3_small:reduced_tail=true,res=128",
    "ssdlite_mobilenet_v2:width=0.35,res=128", "ssdlite_mnasnet_a1:res=96",
    "lraspp_mobilenet_v3_large:reduced_tail=true,res=96x192", "lraspp_mobilenet_v3_small:filters=256,res=64x128",
    "lraspp_mobilenet_v2:width=0.5,res=64", "raspp_mobilenet_v3_large:res=65x129", "raspp_mobilenet_v2:reduced_tail=true,res=64",
])
def test_dense_cost_is_exact_and_the_forward_finite(variant):
    s = summary(resolve(variant))
    m = build(variant)
    h, w = parse_variant(variant).size
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        y = m(torch.randn(1, 3, h, w))
    assert sum(p.numel() for p in m.parameters()) == s["params"] == sum(x["params"] for x in s["layers"])
    assert counter.get_total_flops() // 2 == s["madds"]
    outputs = y if isinstance(y, tuple) else (y,)
    assert all(torch.isfinite(t).all() for t in outputs)
    if variant.startswith("ssdlite"):
        assert [t.shape[-1] for t in outputs] == [4, 91] and outputs[0].shape[1] == outputs[1].shape[1]
    else:
        assert outputs[0].shape == (1, 19, h, w)


@pytest.mark.parametrize("row", list(csv.DictReader(TORCHVISION.open())), ids=lambda r: r["variant"])
def test_torchvision_convention_counts_as_torchvision(row):
    s = summary(resolve(row["variant"]))
    assert (s["params"], s["madds"]) == (int(row["params"]), int(row["madds"])), row["torchvision_call"]


def test_one_detection_and_one_segmentation_network_export(cli):
    code, out, err = cli("export", "ssdlite_mobilenet_v3_small:res=96,width=0.35", "--format", "tflite")
    assert code == 0, err
    assert "max abs error vs torch" in out
    code, out, err = cli("export", "lraspp_mobilenet_v3_small:res=64x96,width=0.35", "--format", "onnx")
    assert code == 0, err
