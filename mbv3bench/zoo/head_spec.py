"""The `head` section of a detection or segmentation spec (models/ssdlite_*.yaml, lraspp_*.yaml,
raspp_*.yaml): which head, on which backbone taps, with what widths; and its `torchvision`
overrides, the same fields as torchvision builds the head. Read like every other spec section
(fields.py); heads.py turns a HeadSpec into layers."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.errors import shown
from .fields import CHANNELS, CLASSES, RESOLUTION, Field, SpecError, check_keys, fail, nonlinearity, take

HEAD_KINDS = ("ssdlite", "lraspp", "raspp")
_FIELDS = {"kind", "filters", "pool", "pool_bias", "skip", "high", "dilated", "halve_c4_expansion", "extra",
           "extra_width", "anchors", "nl", "scale_last_channel"}
# the one backbone knob a torchvision build fixes: its SSDLite halves the tail without an ImageNet backbone
_TORCHVISION_FIELDS = _FIELDS - {"kind"} | {"classes", "reduced_tail"}
ANCHORS = Field(int, 1, 64)     # anchors per location of a predicted map (SSDLite: 3 or 6)
WINDOW = Field(int, 1, RESOLUTION.hi)   # a pooling window's side or stride, in pixels
TAP = re.compile(r"^(stem|bneck\d{1,3}|last_conv)(?:\.(expansion|depthwise))?$")


@dataclass(frozen=True)
class HeadSpec:
    kind: str                              # ssdlite | lraspp | raspp
    nl: str | None = None                  # the head's nonlinearity (ReLU6 in SSDLite, ReLU in the ASPPs)
    # segmentation: filters of the ASPP branches, the pooling window (None: global) and stride at
    # the 1/16 features, a bias on the pooled branch's conv, the skip's tap, the layer the head reads
    # (the backbone ends there), the atrous last block, and whether a reduced tail (RF2) halves the
    # C4 block's expansion too (the detection tail keeps it: it is the C4 tap)
    filters: int = 0
    pool: tuple[tuple[int, int], tuple[int, int]] | None = None
    pool_bias: bool = False
    skip: str | None = None
    high: str = "last_conv"
    dilated: bool = False
    halve_c4_expansion: bool = False
    scale_last_channel: bool = False       # the backbone's last channel scales with width below 1
    # detection: the extra feature layers' depths, scaled with width or not, and the anchors per
    # location of each predicted feature map (C4, C5, the extras)
    extra: tuple[int, ...] = ()
    extra_width: bool = False
    anchors: tuple[int, ...] = ()
    # torchvision's build only
    classes: int | None = None
    reduced_tail: bool = False


def _pair(value, path: str) -> tuple[int, int]:
    pair = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(pair, list) or len(pair) != 2:
        fail(path, f"expected a positive integer or [h, w], got {shown(value)}")
    h, w = (WINDOW.check(x, path, SpecError) for x in pair)
    return h, w


def _pool(value, path: str):
    if value == "global":
        return None
    check_keys(value, {"k", "s"}, path)
    return _pair(take(value, "k", object, path), f"{path}.k"), _pair(take(value, "s", object, path), f"{path}.s")


def _positive_list(d: dict, key: str, path: str, each: Field) -> tuple[int, ...]:
    return tuple(take(d, key, Field(list, longest=16, items=each), path, []))


def _head(d: dict, path: str, fields: set[str]) -> HeadSpec:
    check_keys(d, fields, path)
    kind = take(d, "kind", str, path, allowed=HEAD_KINDS)
    skip, high = take(d, "skip", str, path, None), take(d, "high", str, path, "last_conv")
    if skip is not None and not TAP.match(skip):
        fail(f"{path}.skip", f"{skip!r} is not a tap; allowed: a layer (stem, bneckN, last_conv), "
                             "optionally .expansion or .depthwise, e.g. bneck4.depthwise")
    if not TAP.match(high) or "." in high:
        fail(f"{path}.high", f"{high!r} is not a layer; allowed: stem, bneckN, last_conv")
    head = HeadSpec(kind=kind, nl=nonlinearity(d.get("nl", "-"), f"{path}.nl"),
                    filters=take(d, "filters", CHANNELS, path, 0),
                    pool=_pool(d["pool"], f"{path}.pool") if "pool" in d else None,
                    pool_bias=take(d, "pool_bias", bool, path, False), skip=skip, high=high,
                    dilated=take(d, "dilated", bool, path, False),
                    halve_c4_expansion=take(d, "halve_c4_expansion", bool, path, False),
                    scale_last_channel=take(d, "scale_last_channel", bool, path, False),
                    extra=_positive_list(d, "extra", path, CHANNELS),
                    extra_width=take(d, "extra_width", bool, path, False),
                    anchors=_positive_list(d, "anchors", path, ANCHORS),
                    classes=take(d, "classes", CLASSES, path, None), reduced_tail=take(d, "reduced_tail", bool, path, False))
    if kind == "ssdlite" and len(head.anchors) != len(head.extra) + 2:
        fail(f"{path}.anchors", f"give one count per predicted map: C4, C5 and the {len(head.extra)} extra "
                                f"layers ({len(head.extra) + 2}), got {len(head.anchors)}")
    if kind != "ssdlite" and (head.filters < 1 or (kind == "lraspp" and skip is None)):
        fail(path, f"a {kind} head needs filters" + (" and skip" if kind == "lraspp" else ""))
    return head


def parse_head(d, path: str) -> tuple[HeadSpec, HeadSpec]:
    """The paper's head and torchvision's (the paper's with the `torchvision` fields replaced)."""
    check_keys(d, _FIELDS | {"torchvision"}, path)
    own = {k: v for k, v in d.items() if k != "torchvision"}
    torchvision = d.get("torchvision", {})
    check_keys(torchvision, _TORCHVISION_FIELDS, f"{path}.torchvision")
    return _head(own, path, _FIELDS), _head({**own, **torchvision}, f"{path}.torchvision", _TORCHVISION_FIELDS | {"kind"})
