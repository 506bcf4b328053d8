"""What a lookup table holds and what an architecture is made of: the distinct blocks of a search
space at a resolution (each a `block=` variant, so the export cache and the store key it like any
variant), their Once-for-All keys, and random architectures of a space.

Architectures are read without resolving layers: a block is named by a tuple (part, e, k, other
knobs), which is what makes prediction a dictionary lookup per block."""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..core.errors import UserError
from ..zoo.arch import Conv, Layer, SqueezeExcite, resolve
from ..zoo.space import ARCH_KNOBS, SpaceSpec, part_name
from ..zoo.spec import ModelSpec, Variant, load_spec, parse_variant

BlockKey = tuple   # (space name, part, e, k, other knobs): one distinct block


def space_of(name: str) -> ModelSpec:
    spec = load_spec(name)
    if spec.space is None:
        raise UserError(f"{name} is a network, not a search space; spaces: "
                        f"{', '.join(n for n in _spaces())}")
    return spec


def _spaces() -> list[str]:
    from ..zoo.spec import catalog

    return [n for n in catalog() if load_spec(n).space is not None]


def _fixed(spec: ModelSpec) -> tuple[list[str], list[str]]:
    """The parts before and after the stages, in network order."""
    before = ["stem"] + [f"bneck{i}" for i in range(1, len(spec.blocks) + 1)]
    after = ["last_conv", "pool"] + (["head_conv"] if spec.head_conv else []) + ["classifier"]
    return before, after


def fixed_parts(spec: ModelSpec) -> tuple[str, ...]:
    """Every part an architecture of the space has whatever its d, e and k."""
    before, after = _fixed(spec)
    return tuple(before + after)


def other_knobs(v: Variant) -> tuple:
    return tuple((k, val) for k, val in v.knobs if k not in ARCH_KNOBS)


def block_key(v: Variant) -> BlockKey:
    """The key of a block= variant."""
    return (v.name, v.get("block"), v.get("e"), v.get("k"), other_knobs(v))


def block_variant(key: BlockKey) -> Variant:
    name, part, e, k, other = key
    knobs = dict(other) | {"block": part} | ({"e": e, "k": k} if e is not None else {})
    return Variant(name, tuple(sorted(knobs.items())))


def arch_blocks(v: Variant) -> list[BlockKey]:
    """The blocks of an architecture of a space, in network order (no layers resolved)."""
    spec = v.spec
    space: SpaceSpec = spec.space
    if space is None or v.get("block") is not None:
        raise UserError(f"{v} is not an architecture of a search space")
    d, e, k = arch_of(v)
    other = other_knobs(v)
    before, after = _fixed(spec)
    return ([(v.name, p, None, None, other) for p in before]
            + [(v.name, part, e[slot], k[slot], other) for part, slot in space.part_slots(d)]
            + [(v.name, p, None, None, other) for p in after])


def arch_of(v: Variant, space: SpaceSpec | None = None) -> tuple[str, str, str]:
    """(d, e, k) of an architecture of a space (v's, unless given), its defaults filled in."""
    knobs = dict(v.knobs)
    return tuple(knobs.get(key, dflt) for key, dflt in zip("dek", (space or v.spec.space).default))


def distinct_blocks(space: str, res: int) -> list[BlockKey]:
    """Every block any architecture of the space has at this resolution, in network order."""
    spec = space_of(space)
    other = (("res", res),) if res != spec.resolution else ()
    before, after = _fixed(spec)
    keys = [(space, p, None, None, other) for p in before]
    for i, st in enumerate(spec.space.stages, 1):
        for j in (1, 2) if st.slots > 1 else (1,):
            keys += [(space, part_name(i, j), str(t), str(kk), other) for kk in st.ks for t in st.ts]
    return keys + [(space, p, None, None, other) for p in after]


# ---- Once-for-All's keys -----------------------------------------------------------------------

@dataclass(frozen=True)
class OfaName:
    key: str            # e.g. expanded_conv-input:20x20x40-output:20x20x40-expand:160-kernel:5-...
    share: bool = False  # ProxylessNAS's Logits is pool + classifier: two parts, one key, summed


def _hwc(shape) -> str:
    c, h, w = shape
    return f"{h}x{w}x{c}"


def ofa_name(spec: ModelSpec, layer: Layer, pool_in: tuple[int, int, int]) -> OfaName:
    """The key Once-for-All's LatencyTable looks this layer up by (MBv3LatencyTable or
    ProxylessNASLatencyTable, per the space's `keys`)."""
    mbv3 = spec.space.keys == "ofa_mbv3"
    io = f"input:{_hwc(layer.in_shape)}-output:{_hwc(layer.out_shape)}"
    if layer.kind == "bneck":
        convs = [p for p in layer.parts if isinstance(p, Conv)]
        dw = next(p for p in convs if p.groups > 1)
        expand = dw.cout if mbv3 else dw.cout // layer.in_shape[0]
        key = f"expanded_conv-{io}-expand:{expand}-kernel:{dw.k}-stride:{dw.stride}-idskip:{int(layer.residual)}"
        if mbv3:
            se = any(isinstance(p, SqueezeExcite) for p in layer.parts)
            key += f"-se:{int(se)}-hs:{int(dw.act == 'hswish')}"
        return OfaName(key)
    if layer.name == "stem":
        return OfaName(f"Conv-{io}")
    if layer.name == "last_conv":
        return OfaName(f"Conv_1-{io}")
    if layer.name == "head_conv":
        return OfaName(f"Conv_2-{io}")
    classes = spec.classes
    if not mbv3:   # "Logits: all operations after Conv_1"
        return OfaName(f"Logits-input:{_hwc(pool_in)}-output:{classes}", share=True)
    if layer.name == "pool":
        return OfaName(f"AvgPool2D-{io}")
    return OfaName(f"Logits-input:{_hwc(layer.in_shape)}-output:{classes}")


def describe_blocks(keys: list[BlockKey]) -> list[tuple[BlockKey, str, Layer, OfaName]]:
    """Each block with its canonical variant ID, its resolved layer and its OFA key."""
    out = []
    for key in keys:
        v = block_variant(key)
        layer = resolve(v).layers[0]
        host = resolve(Variant(v.name, other_knobs(v)))
        pool_in = next(x.in_shape for x in host.layers if x.name == "pool")
        out.append((key, str(v), layer, ofa_name(v.spec, layer, pool_in)))
    return out


# ---- sampling ----------------------------------------------------------------------------------

def sample(space: str, n: int, seed: int, resolutions: list[int] | None = None) -> list[str]:
    """n random architectures (canonical IDs), the same for the same seed: a depth per stage, a
    kernel and expansion per block, a resolution, each uniform over its choices."""
    spec = space_of(space)
    rng = random.Random(seed)
    resolutions = resolutions or list(spec.space.resolutions)
    ids = []
    for _ in range(n):
        d = "".join(str(rng.choice(st.depths)) for st in spec.space.stages)
        e = k = ""
        for st, depth in zip(spec.space.stages, d):
            for j in range(st.slots):
                active = j < int(depth)
                e += str(rng.choice(st.ts)) if active else "0"
                k += str(rng.choice(st.ks)) if active else "0"
        res = rng.choice(resolutions)
        ids.append(str(parse_variant(f"{space}:d={d},e={e},k={k},res={res}")))
    return ids
