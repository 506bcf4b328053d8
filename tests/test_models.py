"""The built networks: exact parameter counts, MAdds against torch's own counter, forward passes."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mbv3bench.zoo.arch import resolve
from mbv3bench.zoo.build import NaiveHardSwish, build
from mbv3bench.zoo.cost import summary

# published counts (MobileNetV3 paper v5 Table 3; MobileNetV2 paper); MAdds in millions
TABLE3 = {
    "mobilenet_v3_large": (219, 5.4), "mobilenet_v3_large:width=0.75": (155, 4.0),
    "mnasnet_a1": (315, 3.9), "proxylessnas_mobile": (320, 4.0), "mobilenet_v2": (300, 3.4),
    "mobilenet_v3_small": (56, 2.5), "mobilenet_v3_small:width=0.75": (44, 2.0),
    "mobilenet_v2:width=0.35": (59.2, 1.6),
}
# mnasnet_small is the released tensorflow/tpu model: 68M MAdds by its own README, 65.1M in the V3 paper
RELEASED = {"mnasnet_small": (68, 2.0)}


def _params(m):
    return sum(p.numel() for p in m.parameters())


def test_torchvision_parameter_counts():
    assert _params(build("mobilenet_v3_large")) == 5_483_032
    assert _params(build("mobilenet_v3_small")) == 2_542_856


@pytest.mark.parametrize("variant, published", list(TABLE3.items()) + list(RELEASED.items()))
def test_table3_rows_match_the_published_cost(variant, published):
    s = summary(resolve(variant))
    madds, params = published
    assert abs(s["madds"] / 1e6 / madds - 1) < 0.03
    assert abs(s["params"] / 1e6 - params) <= 0.15


@pytest.mark.parametrize("variant", [
    "mobilenet_v3_large", "mobilenet_v3_small:width=0.35,res=96", "mobilenet_v3_large:width=1.25,res=256",
    "mobilenet_v3_large:reduced_tail=true,dilated=true,res=160", "mobilenet_v3_small:minimal=true",
    "mobilenet_v3_large:act=relu,se=off", "mobilenet_v2:width=0.5,res=128", "mnasnet_a1:res=192",
    "mnasnet_small", "proxylessnas_mobile:res=160", "mobilenet_v3_large:width=0.75,last_channel=scaled,res=33",
])
def test_cost_model_agrees_with_the_built_module(variant):
    s = summary(resolve(variant))
    m = build(variant)
    assert _params(m) == s["params"]
    assert sum(l["params"] for l in s["layers"]) == s["params"]
    x = torch.randn(1, 3, s["resolution"], s["resolution"])
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        y = m(x)
    assert counter.get_total_flops() // 2 == s["madds"]
    assert tuple(y.shape) == (1, 1000)
    assert torch.isfinite(y).all()


def test_layer_names_are_the_papers():
    names = [n for n, _ in build("mobilenet_v3_small").named_children()]
    assert names == ["stem"] + [f"bneck{i}" for i in range(1, 12)] + ["last_conv", "pool", "head_conv", "classifier"]
    names = [n for n, _ in build("mobilenet_v2").named_children()]
    assert names[0] == "stem" and names[-3:] == ["last_conv", "pool", "classifier"] and "bneck17" in names


def test_naive_hswish_is_elementary_and_equal():
    fused, naive = build("mobilenet_v3_small"), build("mobilenet_v3_small:hswish=naive")
    assert not any(isinstance(m, torch.nn.Hardswish) for m in naive.modules())
    assert any(isinstance(m, NaiveHardSwish) for m in naive.modules())
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(fused(x), naive(x), atol=1e-5)
