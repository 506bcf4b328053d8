"""Analytic per-layer cost of a resolved network: MAdds, parameters, bytes moved.

MAdds are the multiply-adds of convolutions and fully connected layers (the SE's included), the
convention of the paper and of torch.utils.flop_counter (FLOPs / 2); nonlinearities, pooling,
resizes, residual adds, the heads' gates and sums, and BatchNorm (folded at export) are not counted. Bytes are what a layer must move
at float32 at the least: its input and output activations and its weights (roofline inputs).
"""
from __future__ import annotations

from dataclasses import dataclass

from .plan import Conv, Layer, Network, SqueezeExcite

FLOAT_BYTES = 4


@dataclass(frozen=True)
class LayerCost:
    name: str
    op: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    madds: int
    params: int
    bytes: int


def _conv_params(c: Conv) -> int:
    return c.cout * (c.cin // c.groups) * c.k * c.k + (c.cout if c.bias else 0) + (2 * c.cout if c.bn else 0)


def _se_params(s: SqueezeExcite) -> int:
    return 2 * s.channels * s.squeeze + s.squeeze + s.channels


def layer_cost(layer: Layer) -> LayerCost:
    _, h, w = layer.in_shape
    madds = params = weights = 0
    for part in layer.parts:
        h, w = part.out_size(h, w)
        if isinstance(part, SqueezeExcite):
            madds += 2 * part.channels * part.squeeze
            p = _se_params(part)
        elif isinstance(part, Conv):
            madds += h * w * part.cout * (part.cin // part.groups) * part.k * part.k
            p = _conv_params(part)
        else:   # pooling, resizing
            continue
        params += p
        weights += p
    activations = sum(c * h * w for c, h, w in (layer.in_shape, layer.out_shape))
    return LayerCost(layer.name, layer.op, layer.in_shape, layer.out_shape, madds, params,
                     FLOAT_BYTES * (activations + weights))


def network_cost(net: Network) -> list[LayerCost]:
    return [layer_cost(layer) for layer in net.layers]


def summary(net: Network) -> dict:
    """The `summary --json` document."""
    rows = network_cost(net)
    return {
        "variant": str(net.variant),
        "resolution": net.res,
        "params": sum(r.params for r in rows),
        "madds": sum(r.madds for r in rows),
        "layers": [{"name": r.name, "op": r.op, "in_shape": list(r.in_shape), "out_shape": list(r.out_shape),
                    "madds": r.madds, "params": r.params, "bytes": r.bytes} for r in rows],
    }
