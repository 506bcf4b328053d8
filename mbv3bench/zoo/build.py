"""A resolved network (arch.Network) as a torch nn.Module whose top-level children carry the
paper's layer names, so exporters and profilers can attribute every op to a layer."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .arch import Conv, Layer, Network, SqueezeExcite, resolve
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
    return {"relu": nn.ReLU(), "relu6": nn.ReLU6(), None: nn.Identity()}[name]


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


class Bneck(nn.Module):
    def __init__(self, layer: Layer, hswish: str):
        super().__init__()
        self.residual = layer.residual
        self.block = nn.Sequential(*[SE(p) if isinstance(p, SqueezeExcite) else _conv(p, hswish) for p in layer.parts])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


def _module(layer: Layer, hswish: str) -> nn.Module:
    if layer.kind == "bneck":
        return Bneck(layer, hswish)
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


def build_network(net: Network, *, nhwc_in: bool = False, nhwc_out: bool = False) -> nn.Sequential:
    layers = OrderedDict((layer.name, _module(layer, net.hswish)) for layer in net.layers)
    return ChannelsLastIO(layers, nhwc_in, nhwc_out) if nhwc_in or nhwc_out else nn.Sequential(layers)


def build(variant: Variant | str, seed: int = 0, *, nhwc_in: bool = False, nhwc_out: bool = False) -> nn.Sequential:
    """The eval-mode module of a variant, with seeded random weights (latency doesn't depend on them)."""
    torch.manual_seed(seed)
    return build_network(resolve(variant), nhwc_in=nhwc_in, nhwc_out=nhwc_out).eval()
