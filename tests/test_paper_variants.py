"""Section 5's redesigns as knobs (stem=32, last_stage=original: Figure 9's path) and torchvision's
width convention: canonical IDs, the built layers, exact cost against torch's own counter."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mbv3bench.report import plots
from mbv3bench.zoo.arch import resolve
from mbv3bench.zoo.build import build
from mbv3bench.zoo.cost import summary
from mbv3bench.zoo.spec import parse_variant
from test_spec import test_bad_variants_name_the_bad_part as assert_bad_variant   # not collected twice: no test_ name

ORIGINAL = "mobilenet_v3_large:last_stage=original,stem=32"


def _layers(v):
    return {layer.name: layer for layer in resolve(v).layers}


def _counted(v):
    """(params, MAdds) of the built module by torch: parameters, FlopCounter / 2."""
    s = summary(resolve(v))
    m = build(v)
    h, w = parse_variant(v).size
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        m(torch.randn(1, 3, h, w))
    return sum(p.numel() for p in m.parameters()), counter.get_total_flops() // 2, s


@pytest.mark.parametrize("text, canonical", [
    ("mobilenet_v3_large:stem=16,last_stage=efficient,convention=paper", "mobilenet_v3_large"),
    ("mobilenet_v3_large:stem=32,last_stage=original", ORIGINAL),
    ("mobilenet_v3_small:convention=torchvision,width=0.5", "mobilenet_v3_small:convention=torchvision,width=0.5"),
])
def test_redesign_knobs_are_canonical(text, canonical):
    assert str(parse_variant(text)) == canonical


@pytest.mark.parametrize("text, names", [
    ("mobilenet_v3_large:stem=7", "stem='7'"),
    ("mobilenet_v3_large:stem=abc", "stem='abc'"),
    ("mobilenet_v3_large:last_stage=old", "last_stage='old'; allowed: efficient, original"),
    ("mobilenet_v3_small:last_stage=original", "unknown knob 'last_stage'"),
    ("mobilenet_v3_large:convention=keras", "convention='keras'; allowed: paper, torchvision"),
    ("mobilenet_v3_large:convention=torchvision,last_channel=scaled", "last_channel"),
    ("mobilenet_v2:convention=torchvision", "unknown knob 'convention'"),
    ("lraspp_mobilenet_v3_large:res=512x", "res='512x'"),
    ("lraspp_mobilenet_v3_large:res=512x4096", "res='512x4096'"),
    ("lraspp_mobilenet_v3_large:filters=4", "filters='4'"),
    ("ssdlite_mobilenet_v3_large:filters=128", "unknown knob 'filters'"),
    ("ssdlite_mobilenet_v2:convention=torchvision", "unknown knob 'convention'"),
])
def test_bad_new_knobs_name_the_bad_part(text, names):
    assert_bad_variant(text, names)


def test_stem32_widens_the_stem_and_the_first_depthwise():
    layers = _layers("mobilenet_v3_large:stem=32")
    assert layers["stem"].out_shape == (32, 112, 112)
    assert [p.cin for p in layers["bneck1"].parts] == [32, 32]        # t=1: depthwise 32, then project to 16
    assert layers["bneck1"].out_shape == (16, 112, 112) and not layers["bneck1"].residual


def test_original_last_stage_is_figure5_top():
    layers = _layers("mobilenet_v3_large:last_stage=original")
    assert "head_conv" not in layers
    b16 = layers["bneck16"]
    assert b16.in_shape == (160, 7, 7) and b16.out_shape == (320, 7, 7)
    assert [(p.cin, p.cout, p.k) for p in b16.parts] == [(160, 960, 1), (960, 960, 3), (960, 320, 1)]
    assert layers["last_conv"].in_shape == (320, 7, 7) and layers["last_conv"].out_shape == (1280, 7, 7)
    assert layers["classifier"].in_shape == (1280, 1, 1)


@pytest.mark.parametrize("variant", ["mobilenet_v3_large:stem=32", "mobilenet_v3_large:last_stage=original",
                                     ORIGINAL + ",act=relu,width=0.75"])
def test_redesign_cost_is_exact(variant):
    params, madds, s = _counted(variant)
    assert params == s["params"] and madds == s["madds"]


def test_figure9_walks_the_papers_redesigns_each_with_exact_cost():
    steps = [v for v, _ in plots.needs("9")]
    assert steps == ["mobilenet_v3_large:act=relu,last_stage=original,stem=32",
                     "mobilenet_v3_large:act=relu,last_stage=original", "mobilenet_v3_large:act=relu",
                     "mobilenet_v3_large"]
    madds = [summary(resolve(v))["madds"] for v in steps]
    # the 16-filter stem and the efficient last stage each save MAdds (the paper: ~30M for the
    # last stage); h-swish costs none by this count
    assert madds[0] > madds[1] > madds[2] == madds[3]
    assert 25e6 < madds[1] - madds[2] < 40e6
    assert "not reproduced" in plots.tradeoffs()["9"].note


def test_torchvision_widths_scale_expansions_and_the_last_channel():
    paper, tv = _layers("mobilenet_v3_large:width=0.75"), _layers("mobilenet_v3_large:convention=torchvision,width=0.75")
    assert paper["bneck2"].parts[0].cout == 64 and tv["bneck2"].parts[0].cout == 48   # 64 * 0.75
    assert paper["head_conv"].out_shape[0] == 1280 and tv["head_conv"].out_shape[0] == 960
    assert str(resolve("mobilenet_v3_large:convention=torchvision").variant) == "mobilenet_v3_large:convention=torchvision"
    assert summary(resolve("mobilenet_v3_large:convention=torchvision")) | {"variant": ""} == \
        summary(resolve("mobilenet_v3_large")) | {"variant": ""}      # at width 1 the two agree
