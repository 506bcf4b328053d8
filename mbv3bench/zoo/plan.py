"""The parts a resolved network is made of (arch.Network): convolutions, squeeze-excites, pools and
resizes grouped into named layers. Pure Python; arch.py and heads.py make them, build.py and
cost.py read them."""
from __future__ import annotations

from dataclasses import dataclass

from .spec import Variant


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
    act: str | None = None      # relu | relu6 | hswish | sigmoid | None
    bias: bool = False

    def out_hw(self, hw: int) -> int:
        pad = self.dilation * (self.k - 1) // 2
        return (hw + 2 * pad - self.dilation * (self.k - 1) - 1) // self.stride + 1

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        return self.out_hw(h), self.out_hw(w)


@dataclass(frozen=True)
class SqueezeExcite:
    channels: int
    squeeze: int
    gate: str                   # hardsigmoid | sigmoid

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        return h, w


@dataclass(frozen=True)
class Pool:
    """Average pooling: global (k None), or a k window at stride s, both (h, w), VALID."""
    k: tuple[int, int] | None = None
    s: tuple[int, int] = (1, 1)

    def window(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(kernel, stride) on an h x w map: a window larger than the map is clipped to it, so a
        smaller input than the one the window was chosen for pools globally along that axis."""
        if self.k is None:
            return (h, w), (1, 1)
        return (min(self.k[0], h), min(self.k[1], w)), self.s

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw) = self.window(h, w)
        return (h - kh) // sh + 1, (w - kw) // sw + 1


@dataclass(frozen=True)
class Resize:
    """Bilinear resize to a fixed size (align_corners=False): the segmentation heads' upsampling."""
    h: int
    w: int

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        return self.h, self.w


@dataclass(frozen=True)
class Layer:
    name: str                   # the paper's layer name: stem, bneck1.., last_conv, pool, head_conv, classifier,
                                # or a head's: extra1.., box1.., class1.., aspp_conv, aspp_pool, seg_low, ...
    op: str                     # a human label, e.g. "bneck 5x5 SE HS"
    kind: str                   # conv | bneck | pool | classifier | head
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    parts: tuple = ()           # Conv / SqueezeExcite / Pool / Resize in execution order
    residual: bool = False
    dropout: float = 0.0        # classifier only
    # head layers only: the layers (or taps, `bneck13.0` = after part 0) read, the previous layer's
    # output when empty; how two inputs merge before the parts (gate: a * b, concat, sum: a + b),
    # b resized to a's size first; and the per-anchor width the output is flattened to, (N, -1, K)
    inputs: tuple[str, ...] = ()
    merge: str | None = None
    flatten: int = 0


@dataclass(frozen=True)
class Network:
    variant: Variant
    hswish: str                 # fused | naive
    layers: tuple[Layer, ...]
    # a dense network's outputs: groups of layers, each group's outputs concatenated along dim 1
    # (SSDLite: the box predictors, then the class predictors); empty for one output, the last layer's
    outputs: tuple[tuple[str, ...], ...] = ()

    @property
    def res(self) -> int | str:
        return self.variant.res

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """(C, H, W) the network takes: the image, or for a part the input of its one layer."""
        return self.layers[0].in_shape

    @property
    def is_part(self) -> bool:
        """One layer of a search space alone (block=...): its input is that layer's, not an image."""
        return self.variant.get("block") is not None
