"""Search spaces: a spec's `space:` section, and the knobs that name one of its members.

A space is the spec's fixed layers and fixed blocks (its `bneck` table) followed by stages whose
depth, and each block's kernel and expansion ratio, are choices. Knobs:
- `d=DDDDD`: a digit per stage, its depth; `e=...`, `k=...`: a digit per block slot (the stages'
  deepest depths end to end), its expansion ratio and kernel. Slots past a stage's depth are
  ignored and written as 0, so two IDs of one network are one ID. Without d/e/k: the space's
  `default` architecture.
- `block=PART`: one layer of the space alone, at the input shape it has inside every network of
  the space at that resolution: `stem`, `bneckN` (a fixed block), `sS.J` (block J of stage S, with
  single-digit `e` and `k`; every J >= 2 of a stage has the same input and stride, so it is
  written s.2), `last_conv`, `pool`, `head_conv`, `classifier`. A lookup table measures these.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..core.errors import shown
from .fields import (CHANNELS, RES_RANGE, RESOLUTION, STRIDE, BlockDef, Field, SpecError, check_keys, fail,
                     nonlinearity, table, take, yes_no)

ARCH_KNOBS = ("d", "e", "k", "block")
KEY_STYLES = ("ofa_mbv3", "ofa_proxyless")     # Once-for-All's two LatencyTable key formats
STAGE_COLUMNS = ("out", "s", "se", "nl", "depth", "k", "t")
FIXED_PARTS = ("stem", "last_conv", "pool", "head_conv", "classifier")
_STAGE_PART = re.compile(r"s([0-9]{1,3})\.([0-9]{1,3})")


def _ascii_digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes Arabic-Indic, fullwidth and superscript digits,
    which int() reads differently (or not at all), so an ID would not be one canonical string."""
    return text.isascii() and text.isdigit()


def part_name(stage: int, j: int) -> str:
    """Block j of stage (both from 1): blocks 2.. of a stage share input shape and stride, one part."""
    return f"s{stage}.{min(j, 2)}"


MAX_STAGES = 16         # OFA has 5, ProxylessNAS 6; a lookup table measures ~18 blocks per stage
STAGE_FIELDS = {"out": CHANNELS, "s": STRIDE}
# a choice is one digit of an ID (d=, e=, k=); a kernel has a centre
CHOICES = {"depth": Field(int, 1, 9), "k": Field(int, 1, 9, odd=True), "t": Field(int, 1, 9)}
_REMEMBERED = 4096      # architectures' depths whose forms are kept: IDs may bring billions of them


@dataclass(frozen=True)
class StageDef:
    out: int
    s: int
    se: bool
    nl: str | None
    depths: tuple[int, ...]
    ks: tuple[int, ...]
    ts: tuple[int, ...]     # expansion ratios over the block's input channels

    @functools.cached_property
    def slots(self) -> int:
        return max(self.depths)


@dataclass(frozen=True)
class SpaceSpec:
    stages: tuple[StageDef, ...]
    resolutions: tuple[int, ...]    # what `lut sample` draws from; any res >= 32 is a valid knob
    keys: str                       # KEY_STYLES: how `lut export --format ofa` names the blocks
    default: tuple[str, str, str]   # canonical d, e, k of the bare name

    @functools.cached_property
    def slots(self) -> int:
        return sum(st.slots for st in self.stages)

    @functools.cached_property
    def _part_slots(self) -> dict:
        return {}

    @functools.cached_property
    def _forms(self) -> dict:
        return {}

    def form(self, d: str) -> tuple | None:
        """For depths d (None if not allowed): regular expressions every valid e and k match, the
        (start, end, zeros) pieces of their canonical form, and regular expressions only canonical
        e and k match. Remembered per d: predictions check thousands of IDs a second, and there
        are few depths."""
        if d in self._forms:
            return self._forms[d]
        if len(self._forms) >= _REMEMBERED:
            self._forms.clear()
        if len(d) != len(self.stages) or not _ascii_digits(d) or not all(int(x) in st.depths
                                                                    for x, st in zip(d, self.stages)):
            return None
        def pattern(attr: str, ignored: str):   # e.g. [346]{2}[0-9]{2}[346]{4}...: the chosen slots, the others
            return re.compile("".join(f"[{''.join(map(str, getattr(st, attr)))}]{{{depth}}}"
                                      f"{ignored}{{{st.slots - int(depth)}}}" for st, depth in zip(self.stages, d)))

        pieces = tuple((first, first + int(depth), "0" * (st.slots - int(depth)))
                       for st, first, depth in zip(self.stages, self.offsets, d))
        self._forms[d] = (pattern("ts", "[0-9]"), pattern("ks", "[0-9]"), pieces,
                          pattern("ts", "0"), pattern("ks", "0"))
        return self._forms[d]

    def part_slots(self, d: str) -> tuple[tuple[str, int], ...]:
        """(part, slot) of each block the stages have at depths d: block 1 of stage S is part sS.1,
        blocks 2.. are sS.2 (same input and stride). Remembered per d: there are few."""
        found = self._part_slots.get(d)
        if found is None:
            if len(self._part_slots) >= _REMEMBERED:
                self._part_slots.clear()
            found = self._part_slots[d] = tuple(
                (part_name(i, j + 1), first + j)
                for i, (first, depth) in enumerate(zip(self.offsets, d), 1) for j in range(int(depth)))
        return found

    @functools.cached_property
    def offsets(self) -> tuple[int, ...]:
        """The first slot of each stage."""
        out, at = [], 0
        for st in self.stages:
            out.append(at)
            at += st.slots
        return tuple(out)


def _digits(d: dict, key: str, path: str, default) -> tuple[int, ...]:
    value = d.get(key, default)
    if not isinstance(value, list) or not value:
        fail(f"{path}.{key}", f"expected a list of choices, each a digit 1..9, got {shown(value)}")
    return tuple(sorted(set(Field(list, longest=9, items=CHOICES[key]).check(value, f"{path}.{key}", SpecError))))


def _resolutions(value, path: str) -> tuple[int, ...]:
    if isinstance(value, dict):
        check_keys(value, {"from", "to", "step"}, path)
        lo, hi = (take(value, k, RESOLUTION, path) for k in ("from", "to"))
        value = list(range(lo, hi + 1, take(value, "step", Field(int, 1, RES_RANGE[1]), path)))
    if not isinstance(value, list) or not value:
        fail(path, f"expected a list of resolutions or {{from, to, step}}, got {shown(value)}")
    return tuple(Field(list, longest=RES_RANGE[1], items=RESOLUTION).check(value, path, SpecError))


def parse_space(d, path: str) -> SpaceSpec:
    check_keys(d, {"resolutions", "keys", "choices", "nl", "se", "stages", "default"}, path)
    choices = take(d, "choices", dict, path, {})
    check_keys(choices, {"depth", "k", "t"}, f"{path}.choices")
    rows = take(d, "stages", dict, path)
    check_keys(rows, {"columns", "rows"}, f"{path}.stages")
    stages = []
    for rpath, row in table(rows, STAGE_COLUMNS, f"{path}.stages", MAX_STAGES)[1]:
        f = {"se": d.get("se", "no"), "nl": d.get("nl"), **row}
        for key, field in STAGE_FIELDS.items():
            f[key] = field.check(f.get(key), f"{rpath}.{key}", SpecError)
        stages.append(StageDef(f["out"], f["s"], yes_no(f["se"], f"{rpath}.se"), nonlinearity(f["nl"], f"{rpath}.nl"),
                               *(_digits(f, key, rpath, choices.get(key)) for key in ("depth", "k", "t"))))
    if not stages:
        fail(f"{path}.stages.rows", "a space needs at least one stage")
    space = SpaceSpec(tuple(stages), _resolutions(d.get("resolutions"), f"{path}.resolutions"),
                      take(d, "keys", str, path, allowed=KEY_STYLES), ("", "", ""))
    default = take(d, "default", dict, path)
    check_keys(default, {"d", "e", "k"}, f"{path}.default")
    digits = Field(str, longest=space.slots, says=f"a string of at most {space.slots} digits")
    dek = []
    for key in "dek":
        raw = take(default, key, object, f"{path}.default")
        unquoted = isinstance(raw, int) and not isinstance(raw, bool)   # digits without quotes read as an integer
        dek.append(digits.check(str(raw) if unquoted else raw, f"{path}.default.{key}", SpecError))
    try:
        arch = _arch(space, *dek)
    except SpecError as e:
        fail(f"{path}.default", str(e))
    return SpaceSpec(space.stages, space.resolutions, space.keys, arch)


# ---- knobs ------------------------------------------------------------------------------------


def _allowed(space: SpaceSpec, attr: str) -> str:
    return "; ".join(f"stage {i}: {'/'.join(map(str, getattr(st, attr)))}" for i, st in enumerate(space.stages, 1))


def _arch(space: SpaceSpec, d: str, e: str, k: str) -> tuple[str, str, str]:
    """Checked and canonical (d, e, k): every slot past its stage's depth written as 0."""
    form = space.form(d)
    if form is not None and form[0].fullmatch(e) and form[1].fullmatch(k):
        return d, "".join([e[a:b] + pad for a, b, pad in form[2]]), "".join([k[a:b] + pad for a, b, pad in form[2]])
    _explain(space, d, e, k)
    raise AssertionError("unreachable: _explain raises for what form() rejects")


def _explain(space: SpaceSpec, d: str, e: str, k: str) -> None:
    """The one-line error for a bad d, e or k: what form() only rejects, said in words."""
    stages = space.stages
    if len(d) != len(stages) or not _ascii_digits(d) or not all(int(x) in st.depths for x, st in zip(d, stages)):
        raise SpecError(f"bad value d={shown(d)}; allowed: {len(stages)} digits, a depth per stage "
                        f"({_allowed(space, 'depths')})")
    for key, value, attr, what in (("e", e, "ts", "expansion ratio"), ("k", k, "ks", "kernel")):
        if len(value) != space.slots or not _ascii_digits(value):
            raise SpecError(f"bad value {key}={shown(value)}; allowed: {space.slots} digits, a {what} per block slot "
                            f"(stages of {', '.join(str(st.slots) for st in stages)} slots)")
        for st, first, depth in zip(stages, space.offsets, map(int, d)):
            for j, x in enumerate(value[first:first + depth]):
                if int(x) not in getattr(st, attr):
                    raise SpecError(f"bad value {key}={shown(value)}: slot {first + j + 1} has {what} {x}; "
                                    f"allowed: {_allowed(space, attr)}")


def _part(spec, space: SpaceSpec, raw: dict) -> dict:
    part, e, k = raw["block"], raw.get("e"), raw.get("k")
    fixed = [p for p in FIXED_PARTS if p != "head_conv" or spec.head_conv] + [
        f"bneck{i}" for i in range(1, len(spec.blocks) + 1)]
    m = _STAGE_PART.fullmatch(part)
    if part in fixed:
        if e is not None or k is not None:
            raise SpecError(f"block={part} takes no e or k (it is the same in every network of {spec.name})")
        return {"block": part}
    stage = space.stages[int(m.group(1)) - 1] if m and 1 <= int(m.group(1)) <= len(space.stages) else None
    if stage is None or not 1 <= int(m.group(2)) <= stage.slots:
        raise SpecError(f"bad value block={shown(part)}; allowed: {', '.join(fixed)}, or sS.J: block J of stage S "
                        f"({', '.join(f's{i}.1..{st.slots}' for i, st in enumerate(space.stages, 1))})")
    for key, value, choices in (("e", e, stage.ts), ("k", k, stage.ks)):
        if value is None or not _ascii_digits(value) or value.lstrip("0") not in map(str, choices):
            raise SpecError(f"block={part} needs {key}= one of {'/'.join(map(str, choices))}, got {shown(value)}")
    return {"block": part_name(int(m.group(1)), int(m.group(2))), "e": e.lstrip("0"), "k": k.lstrip("0")}


def space_knobs(spec, raw: dict[str, str]) -> dict[str, str]:
    """The canonical d/e/k/block knobs of a variant of a space from their raw values (defaults
    left out: the space's default architecture is the bare name)."""
    space = spec.space
    if "block" in raw:
        if "d" in raw:
            raise SpecError("block= names one block, at every depth: it takes no d")
        return _part(spec, space, raw)
    d, e, k = _arch(space, *(raw.get(key, dflt) for key, dflt in zip("dek", space.default)))
    return {} if (d, e, k) == space.default else {"d": d, "e": e, "k": k}


def stage_blocks(space: SpaceSpec, d: str, e: str, k: str) -> tuple[BlockDef, ...]:
    """The blocks an architecture adds after the spec's fixed ones."""
    stages = [st for st, depth in zip(space.stages, d) for _ in range(int(depth))]
    return tuple(BlockDef(k=int(k[slot]), out=st.out, s=st.s if part.endswith(".1") else 1, nl=st.nl, se=st.se,
                          t=float(e[slot])) for st, (part, slot) in zip(stages, space.part_slots(d)))


def variant_blocks(spec, variant) -> tuple[tuple[BlockDef, ...], str | None]:
    """Every block of the variant's network, and for a block= variant the name of the layer it
    selects from that network. A block is placed in a host network of the deepest depths, so its
    input shape is the one it has in every network of the space."""
    space = spec.space
    part = variant.get("block")
    if part is None:
        d, e, k = (variant.get(key, dflt) for key, dflt in zip("dek", space.default))
        return spec.blocks + stage_blocks(space, d, e, k), None
    m = _STAGE_PART.fullmatch(part)
    d = "".join(str(st.slots) for st in space.stages)
    e = "".join(str(st.ts[0]) * st.slots for st in space.stages)
    k = "".join(str(st.ks[0]) * st.slots for st in space.stages)
    if not m:
        return spec.blocks + stage_blocks(space, d, e, k), part
    slot = space.offsets[int(m.group(1)) - 1] + int(m.group(2)) - 1
    e, k = (s[:slot] + variant.get(key) + s[slot + 1:] for key, s in (("e", e), ("k", k)))
    return spec.blocks + stage_blocks(space, d, e, k), f"bneck{len(spec.blocks) + slot + 1}"
