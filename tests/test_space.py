"""Search spaces: the spec's space section, architecture and block IDs, sampling, the distinct
blocks of a space and their Once-for-All keys, and exact cost of random architectures."""
import pytest
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from mbv3bench.core.resources import BUILTIN_MODELS
from mbv3bench.lut.blocks import arch_blocks, block_key, block_variant, describe_blocks, distinct_blocks, sample
from mbv3bench.zoo.arch import resolve
from mbv3bench.zoo.build import build
from mbv3bench.zoo.cost import summary
from mbv3bench.zoo.spec import SpecError, parse_spec, parse_variant

OFA = "ofa_mobilenet_v3"
ARCH = f"{OFA}:d=24342,e=34634634634634634634,k=35735735735735735735,res=160"


def test_ofa_space_is_the_papers():
    space = parse_variant(OFA).spec.space
    assert [(st.out, st.s, st.se, st.nl) for st in space.stages] == [
        (24, 2, False, "relu"), (40, 2, True, "relu"), (80, 2, False, "hswish"), (112, 1, True, "hswish"),
        (160, 2, True, "hswish")]
    assert all(st.depths == (2, 3, 4) and st.ks == (3, 5, 7) and st.ts == (3, 4, 6) for st in space.stages)
    assert space.resolutions == tuple(range(128, 225, 4)) and space.slots == 20
    net = resolve(OFA)   # the bare name: the largest network, OFA's supernet at width 1.0
    assert [layer.name for layer in net.layers][-4:] == ["last_conv", "pool", "head_conv", "classifier"]
    assert net.layers[1].op == "bneck 3x3 RE" and net.layers[1].residual and len(net.layers) == 26


def test_proxylessnas_space_default_is_the_released_network():
    assert summary(resolve("proxylessnas_mobile_space"))["madds"] == summary(resolve("proxylessnas_mobile"))["madds"]
    assert summary(resolve("proxylessnas_mobile_space"))["params"] == summary(resolve("proxylessnas_mobile"))["params"]


def test_bad_space_section_names_its_path():
    data = yaml.safe_load((BUILTIN_MODELS / f"{OFA}.yaml").read_text())
    data["space"]["stages"]["rows"][2][0] = "many"
    with pytest.raises(SpecError, match=r"space\.stages\.rows\[3\]\.out: expected an integer in 1\.\.4,096, got .many."):
        parse_spec(data, "models/x.yaml")
    data = yaml.safe_load((BUILTIN_MODELS / f"{OFA}.yaml").read_text())
    data["space"]["default"]["d"] = "55555"
    with pytest.raises(SpecError, match=r"space\.default: bad value d='55555'"):
        parse_spec(data, "models/x.yaml")
    data = yaml.safe_load((BUILTIN_MODELS / f"{OFA}.yaml").read_text())
    data["knobs"] = ["res"]
    with pytest.raises(SpecError, match=r"knobs: a search space needs the knobs d, e, k, block"):
        parse_spec(data, "models/x.yaml")


def test_sample_is_deterministic_per_seed_and_canonical():
    a, b, c = sample(OFA, 20, 7), sample(OFA, 20, 7), sample(OFA, 20, 8)
    assert a == b and a != c
    assert all(str(parse_variant(x)) == x for x in a)
    assert {parse_variant(x).res for x in sample(OFA, 50, 1, [160])} == {160}
    assert len({parse_variant(x).res for x in sample(OFA, 200, 1)}) > 5


def test_distinct_blocks_of_the_ofa_space():
    keys = distinct_blocks(OFA, 160)
    # per stage: (first block, later blocks) x 3 kernels x 3 expansions; plus stem, first block, 960, pool, 1280, fc
    assert len(keys) == len(set(keys)) == 5 * 2 * 9 + 6
    assert len(distinct_blocks("proxylessnas_mobile_space", 224)) == 5 * 2 * 6 + 6 + 5
    for key in keys:
        assert block_key(parse_variant(str(block_variant(key)))) == key
    # every block of every architecture is one of them
    for arch in sample(OFA, 30, 3, [160]):
        assert set(arch_blocks(parse_variant(arch))) <= set(keys)


def test_a_block_has_the_shape_it_has_in_every_network():
    for arch in (ARCH, f"{OFA}:d=44444,e={'3' * 20},k={'5' * 20},res=160"):
        net = resolve(arch)
        for layer, key in zip(net.layers, arch_blocks(net.variant)):
            alone = resolve(block_variant(key)).layers
            assert len(alone) == 1
            assert (alone[0].in_shape, alone[0].out_shape, alone[0].parts, alone[0].residual) == \
                   (layer.in_shape, layer.out_shape, layer.parts, layer.residual)


def test_ofa_keys_have_once_for_alls_format():
    names = {vid: ofa.key for _, vid, _, ofa in describe_blocks(distinct_blocks(OFA, 160))}
    assert names[f"{OFA}:block=stem,res=160"] == "Conv-input:160x160x3-output:80x80x16"
    assert names[f"{OFA}:block=bneck1,res=160"] == \
        "expanded_conv-input:80x80x16-output:80x80x16-expand:16-kernel:3-stride:1-idskip:1-se:0-hs:0"
    assert names[f"{OFA}:block=s2.1,e=4,k=5,res=160"] == \
        "expanded_conv-input:40x40x24-output:20x20x40-expand:96-kernel:5-stride:2-idskip:0-se:1-hs:0"
    assert names[f"{OFA}:block=s4.2,e=6,k=7,res=160"] == \
        "expanded_conv-input:10x10x112-output:10x10x112-expand:672-kernel:7-stride:1-idskip:1-se:1-hs:1"
    assert names[f"{OFA}:block=last_conv,res=160"] == "Conv_1-input:5x5x160-output:5x5x960"
    assert names[f"{OFA}:block=pool,res=160"] == "AvgPool2D-input:5x5x960-output:1x1x960"
    assert names[f"{OFA}:block=head_conv,res=160"] == "Conv_2-input:1x1x960-output:1x1x1280"
    assert names[f"{OFA}:block=classifier,res=160"] == "Logits-input:1x1x1280-output:1000"
    assert len(set(names.values())) == len(names)
    proxyless = {vid: ofa for _, vid, _, ofa in describe_blocks(distinct_blocks("proxylessnas_mobile_space", 224))}
    p = "proxylessnas_mobile_space"
    assert proxyless[f"{p}:block=s1.1,e=3,k=5"].key == \
        "expanded_conv-input:112x112x16-output:56x56x32-expand:3-kernel:5-stride:2-idskip:0"
    assert proxyless[f"{p}:block=pool"].key == proxyless[f"{p}:block=classifier"].key == \
        "Logits-input:7x7x1280-output:1000"


def _params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("variant", sample(OFA, 3, 11) + sample("proxylessnas_mobile_space", 1, 4, [160]) + [
    f"{OFA}:block=s5.2,e=6,k=7,res=160", f"{OFA}:block=stem,res=128"])
def test_cost_of_space_members_agrees_with_the_built_module(variant):
    net = resolve(variant)
    s = summary(net)
    m = build(variant)
    assert _params(m) == s["params"]
    x = torch.randn(1, *net.in_shape)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        m(x)
    assert counter.get_total_flops() // 2 == s["madds"]
