import random

import pytest
import yaml

from mbv3bench.zoo.arch import make_divisible, resolve
from mbv3bench.core.resources import BUILTIN_MODELS as MODELS_DIR
from mbv3bench.zoo.spec import SpecError, catalog, parse_spec, parse_variant, split_variant_list

OFA = "ofa_mobilenet_v3"
ARCH160 = f"{OFA}:d=24342,e=34634634634634634634,k=35735735735735735735,res=160"


def test_catalog_has_the_paper_networks():
    assert set(catalog()) >= {"mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_v2", "mnasnet_a1",
                              "mnasnet_small", "proxylessnas_mobile"}


@pytest.mark.parametrize("text, canonical", [
    ("mobilenet_v3_large", "mobilenet_v3_large"),
    ("mobilenet_v3_large:width=1.0,res=224,se=on,hswish=fused,last_channel=fixed", "mobilenet_v3_large"),
    ("mobilenet_v3_large:res=160,width=0.750", "mobilenet_v3_large:res=160,width=0.75"),
    ("mobilenet_v3_small:minimal=True,reduced_tail=yes,dilated=1",
     "mobilenet_v3_small:dilated=true,minimal=true,reduced_tail=true"),
    ("mobilenet_v3_large: act = hswish@112 , hswish=naive", "mobilenet_v3_large:act=hswish@112,hswish=naive"),
    ("mobilenet_v2:width=0.35,last_channel=scaled", "mobilenet_v2:last_channel=scaled,width=0.35"),
    ("mobilenet_v3_large:minimal=false", "mobilenet_v3_large"),
    # search spaces (models/ofa_mobilenet_v3.yaml): slots past a stage's depth are written 0
    (ARCH160, f"{OFA}:d=24342,e=34004634634034634600,k=35005735735035735700,res=160"),
    # ... and may hold anything: one network, one ID
    (f"{OFA}:res=160,k=35995735735035735799,e=34114634634934634699,d=24342",
     f"{OFA}:d=24342,e=34004634634034634600,k=35005735735035735700,res=160"),
    (f"{OFA}:d=44444,e={'6' * 20},k={'7' * 20}", OFA),
    (f"{OFA}:d=22222", f"{OFA}:d=22222,e={'6600' * 5},k={'7700' * 5}"),
    (f"{OFA}:block=s3.4,k=5,e=4,res=160", f"{OFA}:block=s3.2,e=4,k=5,res=160"),
    (f"{OFA}:block=pool,res=224", f"{OFA}:block=pool"),
])
def test_variant_ids_are_canonical_and_round_trip(text, canonical):
    v = parse_variant(text)
    assert str(v) == canonical
    assert parse_variant(str(v)) == v
    assert str(resolve(text).variant) == canonical


@pytest.mark.parametrize("text, names", [
    ("nonet", "unknown network 'nonet'"),
    ("mobilenet_v3_large:depth=2", "unknown knob 'depth'"),
    ("mobilenet_v3_large:width=0", "width='0'"),
    ("mobilenet_v3_large:width=-1", "width='-1'"),
    ("mobilenet_v3_large:res=17", "res='17'"),
    ("mobilenet_v3_large:res=abc", "res='abc'"),
    ("mobilenet_v3_large:act=hswish@999", "act='hswish@999'"),
    ("mobilenet_v3_large:act=swish", "act='swish'"),
    ("mobilenet_v3_large:hswish=fast", "hswish='fast'"),
    ("mobilenet_v3_large:minimal=maybe", "minimal='maybe'"),
    ("mobilenet_v3_large:width", "malformed knob 'width'"),
    ("mobilenet_v3_large:width=1,width=2", "given twice"),
    ("mobilenet_v3_large:minimal=true,act=relu", "minimal=true"),
    ("mobilenet_v2:hswish=naive", "unknown knob 'hswish' for mobilenet_v2"),
    ("Mobile Net", "malformed variant ID"),
    ("", "malformed variant ID"),
    (f"{OFA}:d=2434", "d='2434'"),
    (f"{OFA}:d=24345", "d='24345'"),
    (f"{OFA}:d=24342,e=346", "e='346'"),
    (f"{OFA}:d=24342,k=25735735735735735735", "slot 1 has kernel 2"),
    (f"{OFA}:block=s6.1,e=3,k=3", "block='s6.1'"),
    (f"{OFA}:block=s2.1,e=5,k=3", "needs e="),
    (f"{OFA}:block=stem,e=3", "takes no e or k"),
    (f"{OFA}:block=stem,d=22222", "takes no d"),
    (f"{OFA}:width=0.5", "unknown knob 'width'"),
    ("mobilenet_v3_large:d=22222", "unknown knob 'd'"),
])
def test_bad_variants_name_the_bad_part(text, names):
    with pytest.raises(SpecError) as e:
        parse_variant(text)
    assert names in str(e.value) and "\n" not in str(e.value)


def test_bad_spec_field_names_its_path_and_the_allowed_values():
    data = yaml.safe_load((MODELS_DIR / "mobilenet_v3_large.yaml").read_text())
    data["bneck"]["rows"][3][4] = "SWISH"
    with pytest.raises(SpecError, match=r"bneck\.rows\[4\]\.nl: .*'SWISH'.*allowed: RE, RE6, HS"):
        parse_spec(data, "models/x.yaml")
    data = yaml.safe_load((MODELS_DIR / "mobilenet_v3_large.yaml").read_text())
    data["stem"]["kernel"] = 3
    with pytest.raises(SpecError, match=r"stem\.kernel: unknown field"):
        parse_spec(data, "models/x.yaml")


def test_make_divisible_rule():
    assert [make_divisible(v) for v in (12, 11.2, 5.6, 18, 60, 138, 1280)] == [16, 16, 8, 24, 64, 136, 1280]


def test_table1_is_what_is_built():
    net = resolve("mobilenet_v3_large")
    rows = [(l.in_shape, l.out_shape) for l in net.layers if l.kind == "bneck"]
    assert len(rows) == 15
    assert rows[0] == ((16, 112, 112), (16, 112, 112))
    assert rows[12] == ((112, 14, 14), (160, 7, 7))
    depthwise_channels = [next(p.cin for p in l.parts if getattr(p, "groups", 1) > 1) for l in net.layers[1:16]]
    assert depthwise_channels == [16, 64, 72, 72, 120, 120, 240, 200, 184, 184, 480, 672, 672, 960, 960]


def test_act_hswish_at_n_switches_from_that_layer_on():
    acts = {l.name: l.parts[0].act for l in resolve("mobilenet_v3_large:act=hswish@112").layers if l.parts}
    assert acts["stem"] == "relu" and acts["bneck10"] == "relu"
    assert acts["bneck11"] == "hswish" and acts["last_conv"] == "hswish"
    acts = {l.name: l.parts[0].act for l in resolve("mobilenet_v3_large:act=hswish@16").layers if l.parts}
    assert acts["stem"] == acts["bneck1"] == "hswish"


def test_reduced_tail_and_dilated_follow_the_detection_variants():
    base = {l.name: l for l in resolve("mobilenet_v3_large").layers}
    red = {l.name: l for l in resolve("mobilenet_v3_large:reduced_tail=true,dilated=true").layers}
    assert red["bneck12"].out_shape == base["bneck12"].out_shape
    assert red["bneck13"].out_shape == (80, 14, 14)          # halved, and not strided
    assert red["bneck13"].parts[1].dilation == 2 and red["bneck13"].parts[1].cin == 672   # C4 expansion kept
    assert red["bneck14"].parts[0].cout == 480
    assert red["last_conv"].out_shape[0] == 480 and red["head_conv"].out_shape[0] == 640


def test_minimal_has_no_se_no_hswish_and_3x3_only():
    net = resolve("mobilenet_v3_large:minimal=true")
    parts = [p for l in net.layers for p in l.parts]
    assert not any(type(p).__name__ == "SqueezeExcite" for p in parts)
    assert {p.act for p in parts if hasattr(p, "act")} <= {"relu", None}
    assert {p.k for p in parts if hasattr(p, "k")} <= {1, 3}


def test_last_channel_rule():
    head = lambda v: next(l for l in resolve(v).layers if l.name == "head_conv").out_shape[0]
    assert head("mobilenet_v3_large:width=0.75") == 1280
    assert head("mobilenet_v3_large:width=0.75,last_channel=scaled") == 960
    assert head("mobilenet_v3_large:width=1.25") == 1600
    last = lambda v: next(l for l in resolve(v).layers if l.name == "last_conv").out_shape[0]
    assert last("mobilenet_v2:width=0.35") == 1280 and last("mobilenet_v2:width=0.35,last_channel=scaled") == 448


def test_variant_lists_split_between_variants_not_knobs():
    assert split_variant_list("a,b:width=0.75,res=160, c ,d:se=off,") == ["a", "b:width=0.75,res=160", "c", "d:se=off"]


def test_width_ids_are_exact_canonical_and_distinct():
    rng = random.Random(9)
    widths = {rng.uniform(0, 4) for _ in range(2000)}
    widths |= {round(rng.uniform(0.1, 2), rng.randint(1, 9)) for _ in range(2000)}   # short decimals too
    widths -= {0.0, 1.0}
    ids = set()
    for w in widths:
        v = parse_variant(f"mobilenet_v3_small:width={w!r}")
        assert v.width == w and parse_variant(str(v)) == v and str(parse_variant(str(v))) == str(v)
        ids.add(str(v))
    assert len(ids) == len(widths)   # two different widths never share an ID (and so a cache entry)
    near = [str(parse_variant(f"mobilenet_v3_small:width={w}")) for w in ("0.9166666", "0.916667")]
    assert near == ["mobilenet_v3_small:width=0.9166666", "mobilenet_v3_small:width=0.916667"]
    assert str(parse_variant("mobilenet_v3_small:width=0.750")) == "mobilenet_v3_small:width=0.75"
    assert str(parse_variant("mobilenet_v3_small:width=1.000")) == "mobilenet_v3_small"
