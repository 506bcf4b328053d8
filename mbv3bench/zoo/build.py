"""A resolved network (arch.Network) as a torch nn.Module whose top-level children carry the
paper's layer names, so exporters and profilers can attribute every op to a layer. A classifier is
an nn.Sequential of them; a detection or segmentation network (heads.py) a DenseNetwork that
routes each layer's inputs by name."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .arch import resolve
from .plan import Conv, Layer, Network, Pool, Resize, SqueezeExcite
from .spec import Variant


class NaiveHardSwish(nn.Module):
    """x * relu6(x + 3) / 6 from elementary ops: what a runtime without a fused h-swish executes.

    Written as (x / 6) * relu6(x + 3) because TFLite's converter pattern-matches the textbook
    x * relu6(x + 3) / 6 (and clamp forms) back into one HARD_SWISH op; this order stays
    MUL, ADD+RELU6, MUL in TFLite and Mul, Add, Clip, Mul in ONNX.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * (1.0 / 6.0)) * nn.functional.relu6(x + 3.0)


def _activation(name: str | None, hswish: str) -> nn.Module:
    if name == "hswish":
        return NaiveHardSwish() if hswish == "naive" else nn.Hardswish()
    return {"relu": nn.ReLU(), "relu6": nn.ReLU6(), "sigmoid": nn.Sigmoid(), None: nn.Identity()}[name]


class SE(nn.Module):
    def __init__(self, s: SqueezeExcite):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(s.channels, s.squeeze, 1)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(s.squeeze, s.channels, 1)
        self.gate = nn.Hardsigmoid() if s.gate == "hardsigmoid" else nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


def _conv(c: Conv, hswish: str) -> nn.Sequential:
    layers = [nn.Conv2d(c.cin, c.cout, c.k, c.stride, c.dilation * (c.k - 1) // 2, c.dilation, c.groups, c.bias)]
    if c.bn:
        layers.append(nn.BatchNorm2d(c.cout))
    if c.act:
        layers.append(_activation(c.act, hswish))
    return nn.Sequential(*layers)


def _part(p, hswish: str, h: int, w: int) -> nn.Module:
    """One part of a layer whose input is h x w (a pooling window is clipped to it)."""
    if isinstance(p, SqueezeExcite):
        return SE(p)
    if isinstance(p, Pool):
        kernel, stride = p.window(h, w)
        return nn.AdaptiveAvgPool2d(1) if p.k is None else nn.AvgPool2d(kernel, stride)
    if isinstance(p, Resize):
        return nn.Upsample(size=(p.h, p.w), mode="bilinear", align_corners=False)
    return _conv(p, hswish)


def _parts(layer: Layer, hswish: str) -> nn.Sequential:
    _, h, w = layer.in_shape
    modules = []
    for p in layer.parts:
        modules.append(_part(p, hswish, h, w))
        h, w = p.out_size(h, w)
    return nn.Sequential(*modules)


class Bneck(nn.Module):
    """A bottleneck; with `tap` the output of that part too, (output, tap): SSDLite's C4 is a
    block's expansion, LR-ASPP's skip a depthwise output."""

    def __init__(self, layer: Layer, hswish: str, tap: int | None = None):
        super().__init__()
        self.residual, self.tap = layer.residual, tap
        self.block = _parts(layer, hswish)

    def forward(self, x: torch.Tensor):
        if self.tap is None:
            y = self.block(x)
            return x + y if self.residual else y
        y = tapped = x
        for i, part in enumerate(self.block):
            y = part(y)
            if i == self.tap:
                tapped = y
        return (x + y if self.residual else y), tapped




class HeadLayer(nn.Module):
    """A head's layer: its inputs merged (heads.py), its parts, and a predictor's map flattened to
    (N, H * W * anchors, K) in the order of TF's and torchvision's SSD heads."""

    def __init__(self, layer: Layer, hswish: str, b_point: bool = False):
        super().__init__()
        self.merge, self.flatten, self.b_point = layer.merge, layer.flatten, b_point
        self.block = _parts(layer, hswish)

    def _resized(self, b: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """b at like's size: a pooled 1x1 map (b_point) broadcasts, anything else is upsampled."""
        if self.b_point:
            return b
        return nn.functional.interpolate(b, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        if self.merge == "gate":
            a = a * self._resized(b, a)
        elif self.merge == "sum":
            a = a + self._resized(b, a)
        elif self.merge == "concat":
            b = self._resized(b, a)
            a = torch.cat([a, b.expand(-1, -1, *a.shape[-2:])], 1)
        y = self.block(a)
        if self.flatten:
            y = y.permute(0, 2, 3, 1).reshape(y.shape[0], -1, self.flatten)
        return y


def _module(layer: Layer, hswish: str, tap: int | None = None, b_point: bool = False) -> nn.Module:
    if layer.kind == "bneck":
        return Bneck(layer, hswish, tap)
    if layer.kind == "head":
        return HeadLayer(layer, hswish, b_point)
    if layer.kind == "pool":
        return nn.AdaptiveAvgPool2d(1)
    if layer.kind == "classifier":
        fc = layer.parts[0]
        return nn.Sequential(nn.Flatten(1), nn.Dropout(layer.dropout), nn.Linear(fc.cin, fc.cout))
    return _conv(layer.parts[0], hswish)


class ChannelsLastIO(nn.Sequential):
    """The same layers taking and/or giving NHWC tensors: a converter to an NHWC runtime cancels
    these permutes against its own layout change, so the file has no TRANSPOSE at that end. The
    children keep their names (module paths stay the layer names)."""

    def __init__(self, layers: OrderedDict, nhwc_in: bool, nhwc_out: bool):
        super().__init__(layers)
        self.nhwc_in, self.nhwc_out = nhwc_in, nhwc_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x.permute(0, 3, 1, 2) if self.nhwc_in else x)
        return y.permute(0, 2, 3, 1) if self.nhwc_out and y.dim() == 4 else y


class DenseNetwork(nn.Module):
    """The layers in order, each reading the outputs (or taps) its plan names, the previous
    layer's otherwise; the outputs are the plan's groups, each concatenated along dim 1 (SSDLite's
    boxes and classes), or the last layer's."""

    def __init__(self, net: Network):
        super().__init__()
        taps = {name: int(index) for name, _, index in
                (src.partition(".") for layer in net.layers for src in layer.inputs) if index}
        shapes = {layer.name: layer.out_shape for layer in net.layers}
        for layer in net.layers:
            b_point = len(layer.inputs) == 2 and shapes[layer.inputs[1]][1:] == (1, 1)
            self.add_module(layer.name, _module(layer, net.hswish, taps.get(layer.name), b_point))
        self.inputs = {layer.name: layer.inputs for layer in net.layers}
        self.outputs = net.outputs
        # kept only while a later layer or the outputs still read them (a 1024x2048 map is large)
        self.kept = {src for srcs in self.inputs.values() for src in srcs} | {n for g in net.outputs for n in g}

    def forward(self, x: torch.Tensor):
        seen: dict[str, torch.Tensor] = {}
        for name, module in self.named_children():
            srcs = self.inputs[name]
            y = module(*[seen[s] for s in srcs]) if srcs else module(x)
            if isinstance(y, tuple):
                y, seen[f"{name}.{module.tap}"] = y
            x = y
            if name in self.kept:
                seen[name] = y
        if not self.outputs:
            return x
        return tuple(torch.cat([seen[n] for n in group], 1) for group in self.outputs)


def build_network(net: Network, *, nhwc_in: bool = False, nhwc_out: bool = False) -> nn.Module:
    if any(layer.kind == "head" for layer in net.layers):
        return DenseNetwork(net)
    layers = OrderedDict((layer.name, _module(layer, net.hswish)) for layer in net.layers)
    return ChannelsLastIO(layers, nhwc_in, nhwc_out) if nhwc_in or nhwc_out else nn.Sequential(layers)


def build(variant: Variant | str, seed: int = 0, *, nhwc_in: bool = False, nhwc_out: bool = False) -> nn.Module:
    """The eval-mode module of a variant, with seeded random weights (latency doesn't depend on them)."""
    torch.manual_seed(seed)
    return build_network(resolve(variant), nhwc_in=nhwc_in, nhwc_out=nhwc_out).eval()
