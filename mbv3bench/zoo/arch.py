"""A variant resolved into concrete layers: every channel count, stride, kernel and nonlinearity.

Both the torch builder (build.py) and the analytic cost model (cost.py) read this one plan, so
what is counted is what is built. Pure Python: no torch here.
"""
from __future__ import annotations

from dataclasses import dataclass

from .fields import BlockDef
from .space import variant_blocks
from .spec import LayerDef, ModelSpec, Variant, parse_variant


def make_divisible(v: float, divisor: int = 8) -> int:
    """The released models' rounding: nearest multiple of 8, at least 8, never 10% below v."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


@dataclass(frozen=True)
class Conv:
    cin: int
    cout: int
    k: int
    stride: int = 1
    groups: int = 1
    dilation: int = 1
    bn: bool = True
    act: str | None = None      # relu | relu6 | hswish | None
    bias: bool = False

    def out_hw(self, hw: int) -> int:
        pad = self.dilation * (self.k - 1) // 2
        return (hw + 2 * pad - self.dilation * (self.k - 1) - 1) // self.stride + 1


@dataclass(frozen=True)
class SqueezeExcite:
    channels: int
    squeeze: int
    gate: str                   # hardsigmoid | sigmoid


@dataclass(frozen=True)
class Layer:
    name: str                   # the paper's layer name: stem, bneck1.., last_conv, pool, head_conv, classifier
    op: str                     # a human label, e.g. "bneck 5x5 SE HS"
    kind: str                   # conv | bneck | pool | classifier
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    parts: tuple = ()           # Conv / SqueezeExcite in execution order (bneck, conv)
    residual: bool = False
    dropout: float = 0.0        # classifier only


@dataclass(frozen=True)
class Network:
    variant: Variant
    hswish: str                 # fused | naive
    layers: tuple[Layer, ...]

    @property
    def res(self) -> int:
        return self.variant.res

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """(C, H, W) the network takes: the image, or for a part the input of its one layer."""
        return self.layers[0].in_shape

    @property
    def is_part(self) -> bool:
        """One layer of a search space alone (block=...): its input is that layer's, not an image."""
        return self.variant.get("block") is not None


def _activations(spec: ModelSpec, blocks: tuple[BlockDef, ...], act: str | None,
                 minimal: bool) -> dict[str, str | None]:
    """Nonlinearity per layer name: the spec's, or the act/minimal knob's override."""
    layers = [("stem", spec.stem.nl)] + [(f"bneck{i}", b.nl) for i, b in enumerate(blocks, 1)]
    layers += [("last_conv", spec.last_conv.nl)] + ([("head_conv", spec.head_conv.nl)] if spec.head_conv else [])
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
    blocks, part = variant_blocks(spec, v) if spec.space else (spec.blocks, None)
    acts = _activations(spec, blocks, v.get("act"), minimal)
    c4 = spec.c4_block
    reduce = 2 if v.get("reduced_tail") else 1
    dilated = bool(v.get("dilated"))
    last_scaled = v.get("last_channel") == "scaled"

    def scale(c: int) -> int:
        return make_divisible(c * w)

    def out_channels(d: LayerDef, tail: bool) -> int:
        base = d.out // (reduce if tail else 1)
        if d.last_channel:
            # TF-slim's convention (the paper's Table 3): never narrower than at width 1
            return make_divisible(base * (w if last_scaled else max(1.0, w)))
        return scale(base)

    layers: list[Layer] = []
    c, hw = 3, v.res

    def conv_layer(name: str, d: LayerDef, tail: bool) -> None:
        nonlocal c, hw
        conv = Conv(c, out_channels(d, tail), 3 if minimal and d.k > 1 else d.k, d.s,
                    bn=d.bn, act=acts[name], bias=not d.bn)
        out_hw = conv.out_hw(hw)
        layers.append(Layer(name, _label("conv2d", conv.k, False, conv.act) + ("" if d.bn else " NBN"), "conv",
                            (c, hw, hw), (conv.cout, out_hw, out_hw), (conv,)))
        c, hw = conv.cout, out_hw

    conv_layer("stem", spec.stem, False)
    base_in = spec.stem.out
    for i, b in enumerate(blocks, 1):
        tail = c4 is not None and i >= c4
        out = scale(b.out // (reduce if tail else 1))
        # TF-slim's convention, which the paper's width rows follow: the expansion is a ratio of the
        # (already rounded) input channels, so a reduced tail's expansions halve with their inputs
        exp = make_divisible(c * (b.t or b.exp / base_in))
        base_in = b.out
        stride, dilation = (1, 2) if dilated and tail else (b.s, 1)
        k = 3 if minimal else b.k
        act = acts[f"bneck{i}"]
        parts: list = []
        if exp > c:
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
        out_hw = dw.out_hw(hw)
        layers.append(Layer(f"bneck{i}", _label("bneck", k, se, act), "bneck", (c, hw, hw), (out, out_hw, out_hw),
                            tuple(parts), residual=stride == 1 and c == out))
        c, hw = out, out_hw
    conv_layer("last_conv", spec.last_conv, True)
    layers.append(Layer("pool", "avgpool", "pool", (c, hw, hw), (c, 1, 1)))
    hw = 1
    if spec.head_conv:
        conv_layer("head_conv", spec.head_conv, True)
    layers.append(Layer("classifier", "dropout, linear", "classifier", (c, 1, 1), (spec.classes, 1, 1),
                        (Conv(c, spec.classes, 1, bn=False, bias=True),), dropout=spec.dropout))
    if part is not None:
        layers = [layer for layer in layers if layer.name == part]
    return Network(v, v.get("hswish", "fused"), tuple(layers))
