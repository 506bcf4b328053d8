"""Model specs (models/*.yaml) and variant IDs (`NAME[:key=value,...]`).

This module is pure Python and cheap to import: the CLI lists and validates variants without torch.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import UserError, shown
from ..core.resources import MODELS_ENV, display, find_yaml, model_dirs, names_in
from ..core.untrusted import MiB, integer, number, read_yaml
from .fields import (BlockDef, CHANNELS, CLASSES, FRACTION, KERNEL, MAX_BLOCKS, NONLINEARITIES, RATIO, REPEATS,
                     RES_RANGE, RESOLUTION, STRIDE, Field, SpecError, check_keys, fail, nonlinearity, table, take,
                     yes_no)
from .head_spec import HeadSpec, parse_head
from .space import ARCH_KNOBS, SpaceSpec, parse_space, space_knobs


SE_SQUEEZE = ("expansion/4", "input/4")
SE_GATES = ("hardsigmoid", "sigmoid")
BLOCK_COLUMNS = ("k", "exp", "t", "out", "n", "se", "nl", "s")
BLOCK_FIELDS = {"k": KERNEL, "exp": CHANNELS, "t": RATIO, "out": CHANNELS, "n": REPEATS, "s": STRIDE}
SPEC_LIMIT = MiB // 4       # a spec is a few KB; pure-Python YAML reads about 1 MiB a second
MAX_WIDTH = 4.0
STEM_RANGE = (8, 256)       # stem filters (stem=N): the paper's 16 and the search's 32, and room around them
FILTERS_RANGE = (8, 1024)   # a segmentation head's ASPP filters: the paper's 256 and 128
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


@dataclass(frozen=True)
class LayerDef:
    """One non-block layer of a spec (stem, last_conv, head_conv): a conv with BN unless bn=False."""
    k: int
    out: int
    nl: str | None
    s: int = 1
    bn: bool = True
    last_channel: bool = False  # the layer the last_channel knob governs


@dataclass(frozen=True)
class LastStage:
    """Figure 5's original last stage (last_stage=original): blocks after the table's, then a
    last conv before pooling, and no conv between pooling and the classifier."""
    blocks: tuple[BlockDef, ...]
    last_conv: LayerDef


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    resolution: int
    classes: int
    dropout: float
    knobs: tuple[str, ...]
    stem: LayerDef
    blocks: tuple[BlockDef, ...]
    last_conv: LayerDef
    head_conv: LayerDef | None
    se_squeeze: str | None
    se_gate: str | None
    c4_block: int | None
    space: SpaceSpec | None = None     # a search space: blocks are its fixed ones, stages follow
    original_last_stage: LastStage | None = None
    # convention=torchvision halves the expansions from this block on in a reduced tail (its tables')
    torchvision_halved_from: int | None = None
    # a detection or segmentation network: its backbone's spec, with this head (paper's, torchvision's)
    backbone: str | None = None
    head: HeadSpec | None = None
    head_torchvision: HeadSpec | None = None

    def base_channels(self) -> list[tuple[str, int]]:
        """(layer name, output channels at width 1): what act=hswish@N refers to."""
        names = [("stem", self.stem.out)]
        names += [(f"bneck{i}", b.out) for i, b in enumerate(self.blocks, 1)]
        names.append(("last_conv", self.last_conv.out))
        if self.head_conv:
            names.append(("head_conv", self.head_conv.out))
        return names


def _layer(d, path: str) -> LayerDef:
    check_keys(d, {"op", "k", "out", "nl", "s", "bn", "last_channel"}, path)
    take(d, "op", str, path, allowed=("conv2d",))
    return LayerDef(k=take(d, "k", KERNEL, path), out=take(d, "out", CHANNELS, path),
                    nl=nonlinearity(d.get("nl", "-"), f"{path}.nl"),
                    s=take(d, "s", STRIDE, path, 1), bn=take(d, "bn", bool, path, True),
                    last_channel=take(d, "last_channel", bool, path, False))


def _blocks(d, path: str) -> tuple[BlockDef, ...]:
    check_keys(d, {"columns", "rows", "k", "nl", "se"}, path)
    columns, rows = table(d, BLOCK_COLUMNS, path, MAX_BLOCKS)
    if ("exp" in columns) == ("t" in columns):
        fail(f"{path}.columns", "give exactly one of 'exp' (channels) or 't' (expansion ratio)")
    defaults = {"k": take(d, "k", KERNEL, path, None), "nl": d.get("nl"), "se": d.get("se", "no"), "n": 1, "s": 1}
    blocks = []
    for rpath, row in rows:
        f = {**defaults, **row}
        for key, field in BLOCK_FIELDS.items():
            if key in f:
                f[key] = field.check(f[key], f"{rpath}.{key}", SpecError)
        if len(blocks) + f["n"] > MAX_BLOCKS:
            fail(f"{rpath}.n", f"more than {MAX_BLOCKS} blocks in the table")
        se = yes_no(f["se"], f"{rpath}.se")
        nl = nonlinearity(f["nl"], f"{rpath}.nl")
        for j in range(f["n"]):
            blocks.append(BlockDef(k=f["k"], out=f["out"], s=f["s"] if j == 0 else 1, nl=nl, se=se,
                                   exp=f.get("exp"), t=float(f["t"]) if "t" in columns else None))
    return tuple(blocks)


def _knobs(data, path: str) -> tuple[str, ...]:
    return tuple(take(data, "knobs", Field(list, longest=len(KNOBS), items=Field(str, allowed=KNOBS)), path))


def _resolution(data, path: str) -> int | str:
    """An int (square) or HxW, e.g. 1024x2048: the form a res= knob takes."""
    value = data.get("resolution")
    if isinstance(value, str) and _SIZE.match(value):
        return _size_value(*(RESOLUTION.check(int(x), f"{path}.resolution", SpecError)
                             for x in _SIZE.match(value).groups()))
    return take(data, "resolution", RESOLUTION, path)


def _last_stage(d, path: str) -> LastStage:
    check_keys(d, {"bneck", "last_conv"}, path)
    return LastStage(_blocks(take(d, "bneck", dict, path), f"{path}.bneck"),
                     _layer(take(d, "last_conv", dict, path), f"{path}.last_conv"))


def _parse_dense(data, path: str) -> ModelSpec:
    """A detection or segmentation spec: its backbone's layers (that spec's file) with this head."""
    check_keys(data, {"name", "title", "resolution", "classes", "knobs", "backbone", "head"}, path)
    backbone = load_spec(take(data, "backbone", str, path))
    if backbone.backbone or backbone.space:
        fail(f"{path}.backbone", f"{backbone.name!r} is not a classification network's spec")
    head, head_tv = parse_head(take(data, "head", dict, path), f"{path}.head")
    return replace(backbone, name=take(data, "name", str, path), title=take(data, "title", str, path),
                   resolution=_resolution(data, path), classes=take(data, "classes", CLASSES, path), dropout=0.0,
                   knobs=_knobs(data, path), head_conv=None, original_last_stage=None, backbone=backbone.name,
                   head=head, head_torchvision=head_tv)


def parse_spec(data, path: str) -> ModelSpec:
    if isinstance(data, dict) and "backbone" in data:
        return _parse_dense(data, path)
    check_keys(data, {"name", "title", "resolution", "classes", "dropout", "se", "c4_block", "knobs",
                       "stem", "bneck", "last_conv", "pool", "head_conv", "space", "original_last_stage",
                       "torchvision"}, path)
    se = data.get("se")
    if se is not None:
        check_keys(se, {"squeeze", "gate"}, f"{path}.se")
    knobs = _knobs(data, path)
    space = parse_space(data["space"], f"{path}.space") if "space" in data else None
    if space and not set(ARCH_KNOBS) <= set(knobs):
        fail(f"{path}.knobs", f"a search space needs the knobs {', '.join(ARCH_KNOBS)}")
    if not space and set(ARCH_KNOBS) & set(knobs):
        fail(f"{path}.knobs", f"knobs {', '.join(ARCH_KNOBS)} name members of a search space: add a 'space' section")
    blocks = _blocks(take(data, "bneck", dict, path), f"{path}.bneck")
    if space and len(blocks) + space.slots > MAX_BLOCKS:
        fail(f"{path}.space.stages", f"{len(blocks)} fixed blocks and {space.slots} block slots: at most "
                                     f"{MAX_BLOCKS} in all")
    if not se and (any(b.se for b in blocks) or space and any(st.se for st in space.stages)):
        fail(f"{path}.se", "blocks with SE need the 'se' section (squeeze, gate)")
    pool = take(data, "pool", dict, path, {})
    check_keys(pool, {"op"}, f"{path}.pool")
    take(pool, "op", str, f"{path}.pool", None, allowed=("avgpool",))
    c4 = take(data, "c4_block", int, path, None)
    if c4 is not None and not 1 <= c4 <= len(blocks):
        fail(f"{path}.c4_block", f"{c4} is not a block number (1..{len(blocks)})")
    head = data.get("head_conv")
    torchvision = data.get("torchvision", {})
    check_keys(torchvision, {"halved_from"}, f"{path}.torchvision")
    last_stage = data.get("original_last_stage")
    return ModelSpec(
        name=take(data, "name", str, path), title=take(data, "title", str, path),
        resolution=take(data, "resolution", RESOLUTION, path), classes=take(data, "classes", CLASSES, path),
        dropout=take(data, "dropout", FRACTION, path), knobs=knobs,
        stem=_layer(take(data, "stem", dict, path), f"{path}.stem"), blocks=blocks,
        last_conv=_layer(take(data, "last_conv", dict, path), f"{path}.last_conv"),
        head_conv=_layer(head, f"{path}.head_conv") if head is not None else None,
        se_squeeze=take(se, "squeeze", str, f"{path}.se", allowed=SE_SQUEEZE) if se else None,
        se_gate=take(se, "gate", str, f"{path}.se", allowed=SE_GATES) if se else None,
        c4_block=c4, space=space,
        original_last_stage=_last_stage(last_stage, f"{path}.original_last_stage") if last_stage else None,
        torchvision_halved_from=take(torchvision, "halved_from", Field(int, 1, MAX_BLOCKS), f"{path}.torchvision", None))


def catalog() -> list[str]:
    return names_in(model_dirs(), "model", MODEL_NAME.fullmatch, "lowercase letters, digits, '_'")


_found: dict[tuple[str, str], Path] = {}


def spec_path(name: str) -> Path:
    # remembered per search path: a lookup table predicts thousands of IDs a second, and the
    # file's contents are cached (_load_spec) anyway; a name not found is looked up again
    key = (name, os.environ.get(MODELS_ENV, ""))
    if key in _found:
        return _found[key]
    path = find_yaml(model_dirs(), name)
    if path is None:
        raise SpecError(f"unknown network {shown(name)}; allowed: {', '.join(catalog())}")
    _found[key] = path
    return path


def load_spec(name: str) -> ModelSpec:
    return _load_spec(spec_path(name))


_loading: set[Path] = set()   # specs being read: a backbone that leads back to one of them is a cycle


@functools.cache
def _load_spec(path: Path) -> ModelSpec:
    where = display(path)
    if path in _loading:
        fail(f"{where}.backbone", "its backbones lead back to this spec; a backbone is a classification "
                                  "network's spec")
    _loading.add(path)
    try:
        spec = parse_spec(read_yaml(path, SPEC_LIMIT, "model spec", SpecError), where)
    finally:
        _loading.discard(path)
    if spec.name != path.stem:
        fail(f"{where}.name", f"{shown(spec.name)} differs from the file name {path.stem!r}")
    return spec


# ---- variant IDs -------------------------------------------------------------------------------

KNOBS = ("width", "res", "act", "hswish", "se", "minimal", "reduced_tail", "dilated", "last_channel", "stem",
         "last_stage", "convention", "filters") + ARCH_KNOBS
# the values a knob may take, where it is one of a few words; the first is the default
CHOICES = {"hswish": ("fused", "naive"), "se": ("on", "off"), "last_channel": ("fixed", "scaled"),
           "last_stage": ("efficient", "original"), "convention": ("paper", "torchvision")}
_BOOL = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
MODEL_NAME = re.compile(r"[a-z0-9_]+")
_ID = re.compile(rf"^({MODEL_NAME.pattern})(?::(.*))?$")


@dataclass(frozen=True)
class Variant:
    """A network and its knob settings, defaults left out. `str(v)` is the canonical ID."""
    name: str
    knobs: tuple[tuple[str, object], ...] = ()

    def get(self, key: str, default=None):
        for k, v in self.knobs:   # a handful of knobs: a scan beats building a dict
            if k == key:
                return v
        return default

    @property
    def spec(self) -> ModelSpec:
        return load_spec(self.name)

    @property
    def width(self) -> float:
        return self.get("width", 1.0)

    @property
    def res(self) -> int | str:
        """The input size: an int for a square input, else HxW (e.g. 512x1024)."""
        return self.get("res", self.spec.resolution)

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the input."""
        return size_of(self.res)

    def __str__(self) -> str:
        if not self.knobs:
            return self.name
        return self.name + ":" + ",".join(f"{k}={_format(v)}" for k, v in self.knobs)


def _format(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # the shortest text that reads back as the same float: two widths never share an ID
        # (and so a cache entry), while 0.750 and 0.75 still do
        return repr(value)
    return str(value)


def _size_value(h: int, w: int) -> int | str:
    return h if h == w else f"{h}x{w}"


def size_of(res: int | str) -> tuple[int, int]:
    if isinstance(res, int):
        return res, res
    h, w = _SIZE.match(res).groups()
    return int(h), int(w)


def _parse_knob(spec: ModelSpec, key: str, raw: str):
    """Returns the knob's value, or None when it equals the default."""
    def bad(allowed: str):
        raise SpecError(f"bad value {key}={shown(raw)}; allowed: {allowed}")

    if key == "width":
        try:
            w = number(raw, 0, MAX_WIDTH)
        except ValueError:
            w = 0.0
        if w == 0:
            bad(f"a multiplier in (0, {MAX_WIDTH:g}], e.g. 0.35, 0.75, 1.25")
        return None if w == 1.0 else w
    if key == "res":
        try:
            m = _SIZE.match(raw)
            res = _size_value(*(integer(x, *RES_RANGE) for x in m.groups())) if m else integer(raw, *RES_RANGE)
        except ValueError:
            bad("an input resolution in pixels, an integer in {0}..{1}, or HxW for a non-square input "
                "(each in {0}..{1}), e.g. 512x1024".format(*RES_RANGE))
        return None if res == spec.resolution else res
    if key in ("stem", "filters"):
        lo, hi = STEM_RANGE if key == "stem" else FILTERS_RANGE
        default = spec.stem.out if key == "stem" else spec.head.filters
        try:
            n = integer(raw, lo, hi)
        except ValueError:
            bad(f"a number of filters, an integer in {lo}..{hi}")
        return None if n == default else n
    if key == "act":
        channels = sorted({c for _, c in spec.base_channels()})
        allowed = "relu, or hswish@N with N the output channels of a layer: " + ", ".join(map(str, channels))
        if raw == "relu":
            return raw
        m = re.fullmatch(r"hswish@(\d{1,6})", raw)
        if not m or int(m.group(1)) not in channels:
            bad(allowed)
        return f"hswish@{int(m.group(1))}"
    if key in CHOICES:
        if raw not in CHOICES[key]:
            bad(", ".join(CHOICES[key]))
        return None if raw == CHOICES[key][0] else raw
    if raw.lower() not in _BOOL:
        bad("true, false")
    return True if _BOOL[raw.lower()] else None


def parse_variant(text: str) -> Variant:
    m = _ID.match(text.strip())
    if m and not text.isascii():   # int() and float() read Arabic-Indic or fullwidth digits: one ID, many spellings
        at = next(i for i, c in enumerate(text) if not c.isascii())
        raise SpecError(f"variant ID {shown(text)} has a character that is not ASCII ({text[at]!r} at column "
                        f"{at + 1}); knob values are written with ASCII digits, e.g. res=160")
    if not m:
        raise SpecError(f"malformed variant ID {shown(text)}; expected NAME[:key=value,...], e.g. "
                        "mobilenet_v3_large:width=0.75,res=160")
    name, rest = m.group(1), m.group(2)
    spec = load_spec(name)
    knobs: dict[str, object] = {}
    if rest is not None:
        for item in rest.split(","):
            key, eq, raw = item.partition("=")
            key, raw = key.strip(), raw.strip()
            if not eq or not key or not raw:
                raise SpecError(f"malformed knob {shown(item)} in {shown(text)}; expected key=value")
            if key not in spec.knobs:
                raise SpecError(f"unknown knob {shown(key)} for {name}; allowed: {', '.join(spec.knobs)}")
            if key in knobs:
                raise SpecError(f"knob {key!r} given twice in {shown(text)}")
            # a space's d/e/k/block are read together: e and k depend on d (and on block)
            knobs[key] = raw if key in ARCH_KNOBS else _parse_knob(spec, key, raw)
    if spec.space:
        knobs.update(space_knobs(spec, {k: knobs.pop(k) for k in ARCH_KNOBS if k in knobs}))
    if knobs.get("minimal"):
        for key in ("act", "se", "hswish"):
            if knobs.get(key) is not None:
                raise SpecError(f"knob {key!r} cannot be combined with minimal=true "
                                "(minimal fixes ReLU, no SE, 3x3 kernels)")
    if knobs.get("convention") == "torchvision":
        _torchvision_knobs(spec, knobs)
    return Variant(name, tuple(sorted((k, v) for k, v in knobs.items() if v is not None)))


def _torchvision_knobs(spec: ModelSpec, knobs: dict) -> None:
    """convention=torchvision fixes what torchvision fixes: the last channel scales with width, and
    its SSDLite halves the tail; a knob saying the same is dropped (one network, one ID)."""
    if knobs.get("last_channel") is not None:
        raise SpecError("knob 'last_channel' cannot be combined with convention=torchvision "
                        "(torchvision scales the last channel with width)")
    if spec.head_torchvision and spec.head_torchvision.reduced_tail:
        knobs.pop("reduced_tail", None)


def split_variant_list(text: str) -> list[str]:
    """`a,b:width=0.75,res=160,c` -> [a, b:width=0.75,res=160, c]: a comma followed by a bare
    key=value continues the previous variant's knobs; anything else starts a new variant."""
    variants: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if variants and "=" in token and ":" not in token:
            variants[-1] += "," + token
        else:
            variants.append(token)
    return variants
