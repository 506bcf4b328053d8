"""Detection and segmentation heads as layers after a backbone's last conv (arch.resolve calls this).

- SSDLite (MobileNetV2 paper, Section 6.2; MobileNetV3 paper, Section 6.3): feature maps C4 (the
  expansion output of the backbone's c4_block, the first output-stride-32 block), C5 (the last conv,
  the layer before pooling) and four extra layers (1x1 to half depth, 3x3 depthwise stride 2, 1x1),
  each predicted by a 3x3 depthwise + 1x1 conv per output: box encodings (4 per anchor) and class
  scores. The network ends at these raw tensors, (N, anchors, 4) and (N, anchors, classes): no
  anchor decoding, no NMS.
- LR-ASPP (Section 6.4, Figure 10): on the 1/16 features (the head's `high` layer) a 1x1 conv (BN, ReLU) gated by an average
  pooling + 1x1 conv + sigmoid, upsampled to the 1/8 skip, a 1x1 conv to the classes, plus the
  skip's own 1x1 conv to the classes; the sum upsampled to the input.
- R-ASPP (MobileNetV2 paper, Section 6.3): a 1x1 conv branch and a global-pooling branch (each BN,
  ReLU), concatenated, a 1x1 projection, a 1x1 conv to the classes, upsampled to the input.
"""
from __future__ import annotations

from .head_spec import TAP, HeadSpec
from .plan import Conv, Layer, Pool, Resize
from .spec import ModelSpec, SpecError, Variant

def _tap(layers: list[Layer], tap: str) -> tuple[str, tuple[int, int, int]]:
    """A tap's source (`bneck13.0`: after part 0 of bneck13) and its output shape (C, H, W)."""
    name, point = TAP.match(tap).groups()
    layer = next((x for x in layers if x.name == name), None)
    if layer is None:
        raise SpecError(f"tap {tap!r} names no layer of the backbone")
    if point is None:
        return name, layer.out_shape
    convs = [i for i, p in enumerate(layer.parts) if isinstance(p, Conv)]
    dw = next(i for i in convs if layer.parts[i].groups > 1)
    index = dw if point == "depthwise" else dw - 1
    if index < 0:
        raise SpecError(f"tap {tap!r}: {name} has no expansion (its input goes straight to the depthwise)")
    c, h, w = layer.in_shape
    for p in layer.parts[:index + 1]:
        h, w = p.out_size(h, w)
    return f"{name}.{index}", (layer.parts[index].cout, h, w)


def _seq(name: str, op: str, inputs: tuple[str, ...], in_shape, parts: tuple, merge: str | None = None,
         flatten: int = 0) -> Layer:
    c, h, w = in_shape
    for p in parts:
        h, w = p.out_size(h, w)
        c = getattr(p, "cout", c)
    return Layer(name, op, "head", in_shape, (c, h, w), parts, inputs=inputs, merge=merge, flatten=flatten)


def _ssdlite(head: HeadSpec, spec: ModelSpec, v: Variant, layers: list[Layer], classes: int):
    maps = [_tap(layers, f"bneck{spec.c4_block}.expansion"), ("last_conv", layers[-1].out_shape)]
    nl, new = head.nl, []
    depth = (lambda d: max(16, int(d * v.width))) if head.extra_width else (lambda d: d)
    for i, d in enumerate(head.extra, 1):
        src, (c, h, w) = maps[-1]
        mid, out = depth(d // 2), depth(d)
        new.append(_seq(f"extra{i}", f"extra 1x1-dw3x3/2-1x1 {out}", (src,), (c, h, w), (
            Conv(c, mid, 1, act=nl), Conv(mid, mid, 3, 2, groups=mid, act=nl), Conv(mid, out, 1, act=nl))))
        maps.append((new[-1].name, new[-1].out_shape))
    for j, ((src, (c, h, w)), anchors) in enumerate(zip(maps, head.anchors), 1):
        for kind, k in (("box", 4), ("class", classes)):
            new.append(_seq(f"{kind}{j}", f"{kind} predictor dw3x3-1x1 ({anchors} anchors)", (src,), (c, h, w), (
                Conv(c, c, 3, groups=c, act=nl), Conv(c, anchors * k, 1, bn=False, bias=True)), flatten=k))
    outputs = tuple(tuple(f"{kind}{j}" for j in range(1, len(maps) + 1)) for kind in ("box", "class"))
    return new, outputs


def _segmentation(head: HeadSpec, v: Variant, layers: list[Layer], classes: int):
    c, h, w = layers[-1].out_shape
    high = layers[-1].name
    f = v.get("filters", head.filters)
    pool = Pool(*head.pool) if head.pool else Pool()
    nl = head.nl
    out_size = Resize(*v.size)
    branch = _seq("aspp_conv", f"1x1 conv {f}", (high,), (c, h, w), (Conv(c, f, 1, act=nl),))
    if head.kind == "raspp":
        pooled = _seq("aspp_pool", f"avgpool, 1x1 conv {f}", (high,), (c, h, w),
                      (pool, Conv(c, f, 1, act=nl)))
        project = _seq("aspp_project", f"concat, 1x1 conv {f}", ("aspp_conv", "aspp_pool"), (2 * f, h, w),
                       (Conv(2 * f, f, 1, act=nl),), merge="concat")
        logits = _seq("seg_logits", f"1x1 conv {classes}, upsample", (), project.out_shape,
                      (Conv(f, classes, 1, bn=False, bias=True), out_size))
        return [branch, pooled, project, logits], ()
    skip, (cs, hs, ws) = _tap(layers, head.skip)
    pooled = _seq("aspp_pool", f"avgpool, 1x1 conv {f}, sigmoid", (high,), (c, h, w),
                  (pool, Conv(c, f, 1, bn=False, bias=head.pool_bias, act="sigmoid")))
    gate = _seq("aspp_gate", "gate, upsample", ("aspp_conv", "aspp_pool"), (f, h, w), (Resize(hs, ws),), merge="gate")
    high = _seq("seg_high", f"1x1 conv {classes}", (), gate.out_shape, (Conv(f, classes, 1, bn=False, bias=True),))
    low = _seq("seg_low", f"1x1 conv {classes} (skip)", (skip,), (cs, hs, ws),
               (Conv(cs, classes, 1, bn=False, bias=True),))
    total = _seq("seg_out", "sum, upsample", ("seg_high", "seg_low"), (classes, hs, ws), (out_size,), merge="sum")
    return [branch, pooled, gate, high, low, total], ()


def head_layers(head: HeadSpec, spec: ModelSpec, v: Variant, layers: list[Layer]):
    """(the head's layers, the network's output groups) after the backbone's `layers`."""
    classes = head.classes or spec.classes
    if head.kind == "ssdlite":
        return _ssdlite(head, spec, v, layers, classes)
    return _segmentation(head, v, layers, classes)
