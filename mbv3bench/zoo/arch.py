"""A variant resolved into concrete layers: every channel count, stride, kernel and nonlinearity.

Both the torch builder (build.py) and the analytic cost model (cost.py) read this one plan, so
what is counted is what is built. Pure Python: no torch here.
"""
from __future__ import annotations

from .heads import head_layers
from .plan import Conv, Layer, Network, SqueezeExcite, make_divisible  # noqa: F401 (the plan's types, for importers)
from .space import variant_blocks
from .spec import LayerDef, ModelSpec, Variant, parse_variant


def _activations(spec: ModelSpec, layers: list[tuple[str, str | None]], act: str | None,
                 minimal: bool) -> dict[str, str | None]:
    """Nonlinearity per layer name: the spec's, or the act/minimal knob's override."""
    if minimal or act == "relu":
        return {name: "relu" if nl else None for name, nl in layers}
    if act is None:
        return dict(layers)
    n = int(act.split("@")[1])
    first = next(i for i, (_, c) in enumerate(spec.base_channels()) if c == n)
    return {name: (("hswish" if i >= first else "relu") if nl else None) for i, (name, nl) in enumerate(layers)}


def _label(kind: str, k: int, se: bool, act: str | None) -> str:
    return " ".join([kind, f"{k}x{k}"] + (["SE"] if se else []) + ([{"relu": "RE", "relu6": "RE6", "hswish": "HS"}[act]] if act else []))


def resolve(variant: Variant | str) -> Network:
    v = parse_variant(variant) if isinstance(variant, str) else variant
    spec = v.spec
    w = v.width
    minimal = bool(v.get("minimal"))
    se_on = v.get("se") != "off" and not minimal
    torchvision = v.get("convention") == "torchvision"
    head = (spec.head_torchvision if torchvision else spec.head) if spec.head else None
    blocks, part = variant_blocks(spec, v) if spec.space else (spec.blocks, None)
    last_conv, head_conv = spec.last_conv, spec.head_conv
    if v.get("last_stage") == "original":
        stage = spec.original_last_stage
        blocks, last_conv, head_conv = blocks + stage.blocks, stage.last_conv, None
    names = [("stem", spec.stem.nl)] + [(f"bneck{i}", b.nl) for i, b in enumerate(blocks, 1)]
    names += [("last_conv", last_conv.nl)] + ([("head_conv", head_conv.nl)] if head_conv else [])
    acts = _activations(spec, names, v.get("act"), minimal)
    c4 = spec.c4_block
    reduce = 2 if v.get("reduced_tail") or (head and head.reduced_tail) else 1
    dilated = bool(v.get("dilated")) or bool(head and head.dilated)
    last_scaled = v.get("last_channel") == "scaled" or torchvision or bool(head and head.scale_last_channel)

    def scale(c: int) -> int:
        return make_divisible(c * w)

    def out_channels(d: LayerDef, tail: bool) -> int:
        base = d.out // (reduce if tail else 1)
        if d.last_channel:
            # TF-slim's convention (the paper's Table 3): never narrower than at width 1
            return make_divisible(base * (w if last_scaled else max(1.0, w)))
        if torchvision and d is spec.last_conv:
            # torchvision's: a multiple of the last block's (rounded) output, 6x in both V3s
            return c * (d.out // blocks[-1].out)
        return scale(base)

    layers: list[Layer] = []
    c, (h, wd) = 3, v.size

    def conv_layer(name: str, d: LayerDef, tail: bool, out: int | None = None) -> None:
        nonlocal c, h, wd
        conv = Conv(c, out or out_channels(d, tail), 3 if minimal and d.k > 1 else d.k, d.s,
                    bn=d.bn, act=acts[name], bias=not d.bn)
        oh, ow = conv.out_size(h, wd)
        layers.append(Layer(name, _label("conv2d", conv.k, False, conv.act) + ("" if d.bn else " NBN"), "conv",
                            (c, h, wd), (conv.cout, oh, ow), (conv,)))
        c, h, wd = conv.cout, oh, ow

    stem = v.get("stem")
    conv_layer("stem", spec.stem, False, scale(stem) if stem else None)
    base_in = spec.stem.out
    for i, b in enumerate(blocks, 1):
        tail = c4 is not None and i >= c4
        out = scale(b.out // (reduce if tail else 1))
        if torchvision:
            # torchvision's rule: the table's expansion scaled directly (halved in its reduced tail)
            halved = reduce > 1 and spec.torchvision_halved_from is not None and i >= spec.torchvision_halved_from
            exp = scale(b.exp // (reduce if halved else 1))
        else:
            # TF-slim's convention, which the paper's width rows follow: the expansion is a ratio of the
            # (already rounded) input channels, so a reduced tail's expansions halve with their inputs
            halved = reduce > 1 and i == c4 and head is not None and head.halve_c4_expansion
            exp = make_divisible(c * (b.t or b.exp / base_in) / (reduce if halved else 1))
        base_in = b.out
        stride, dilation = (1, 2) if dilated and tail else (b.s, 1)
        k = 3 if minimal else b.k
        act = acts[f"bneck{i}"]
        parts: list = []
        if exp > c or (torchvision and exp != c):
            parts.append(Conv(c, exp, 1, act=act))
        else:
            exp = c
        dw = Conv(exp, exp, k, stride, groups=exp, dilation=dilation, act=act)
        parts.append(dw)
        se = b.se and se_on
        if se:
            squeeze = make_divisible(exp // 4) if spec.se_squeeze == "expansion/4" else max(1, int(c * 0.25))
            parts.append(SqueezeExcite(exp, squeeze, spec.se_gate))
        parts.append(Conv(exp, out, 1))
        oh, ow = dw.out_size(h, wd)
        layers.append(Layer(f"bneck{i}", _label("bneck", k, se, act), "bneck", (c, h, wd), (out, oh, ow),
                            tuple(parts), residual=stride == 1 and c == out))
        c, h, wd = out, oh, ow
    conv_layer("last_conv", last_conv, True)
    if head:
        # the head reads its `high` layer; the backbone ends there
        layers = layers[:next(i for i, x in enumerate(layers) if x.name == head.high) + 1]
        new, outputs = head_layers(head, spec, v, layers)
        return Network(v, v.get("hswish", "fused"), tuple(layers + new), outputs)
    layers.append(Layer("pool", "avgpool", "pool", (c, h, wd), (c, 1, 1)))
    h = wd = 1
    if head_conv:
        conv_layer("head_conv", head_conv, True)
    layers.append(Layer("classifier", "dropout, linear", "classifier", (c, 1, 1), (spec.classes, 1, 1),
                        (Conv(c, spec.classes, 1, bn=False, bias=True),), dropout=spec.dropout))
    if part is not None:
        layers = [layer for layer in layers if layer.name == part]
    return Network(v, v.get("hswish", "fused"), tuple(layers))
