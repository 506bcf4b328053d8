"""Latency of an architecture from a lookup table: the sum of its blocks' times, with an
interval from theirs, and the table's correction applied when it has one.

A prediction reads the ID and looks each block up in a dictionary: no layers are resolved and
nothing is exported, so batches run at tens of thousands of architectures a second.

Interval: the blocks were measured independently, so their uncertainties add in quadrature; a
block used several times in one network is one measurement, so its uses add linearly. It is the
table's measurement uncertainty only; how wrong the sum itself is, `lut validate` measures."""
from __future__ import annotations

import math
import re
from typing import NamedTuple

from ..core.errors import UserError
from ..zoo.space import part_name
from ..zoo.spec import Variant, load_spec, parse_variant
from .blocks import BlockKey, arch_blocks, arch_of, block_key, block_variant, fixed_parts, other_knobs


class Prediction(NamedTuple):   # a tuple: made by the ten thousand a second
    variant: str
    ms: float
    ci95: tuple[float, float]
    raw_ms: float                  # the plain sum, before any correction

    def ratio_to(self, ref: "Prediction") -> tuple[float, tuple[float, float]]:
        """This prediction over the reference's, with the widest interval their intervals allow."""
        return self.ms / ref.ms, (self.ci95[0] / ref.ci95[1], self.ci95[1] / ref.ci95[0])


class _Context:
    """The table's blocks of one resolution (and other knobs) as predict() adds them up: each as
    (time, factored time, factored half-widths), with the fixed parts' and each stage's sums
    remembered (a stage's share depends only on its digits of e and k, so a batch soon looks
    every stage up instead of adding its blocks)."""

    def __init__(self, stages: int):
        self.blocks: dict = {}           # part, or (part, e+k) -> entry
        self.fixed: tuple | None = None
        self.stages: list[dict[str, tuple]] = [{} for _ in range(stages)]   # per stage: its e + k -> share
        self.parts = [(part_name(i, 1), part_name(i, 2)) for i in range(1, stages + 1)]

    def fix(self, parts: tuple[str, ...]) -> tuple:
        share = [self.blocks[part] for part in parts]
        self.fixed = (sum(x[0] for x in share), sum(x[1] for x in share), sum(x[2] ** 2 for x in share),
                      sum(x[3] ** 2 for x in share))
        return self.fixed

    def stage(self, i: int, e: str, k: str) -> tuple:
        first, later = self.parts[i]
        x = self.blocks[(first, e[0] + k[0])]
        raw, total, lo2, hi2 = x[0], x[1], x[2] * x[2], x[3] * x[3]
        uses: dict[str, int] = {}
        for ek in map(str.__add__, e[1:], k[1:]):
            uses[ek] = uses.get(ek, 0) + 1
        for ek, n in uses.items():   # a block used n times is one measurement: its uses add linearly
            x = self.blocks[(later, ek)]
            raw, total, lo2, hi2 = raw + n * x[0], total + n * x[1], lo2 + (n * x[2]) ** 2, hi2 + (n * x[3]) ** 2
        self.stages[i][e + k] = found = (raw, total, lo2, hi2)
        return found


class Predictor:
    def __init__(self, doc: dict, *, corrected: bool = True):
        self.doc, self.space = doc, doc["space"]
        corr = doc.get("correction") if corrected else None
        self.correction = corr
        self.intercept = corr["intercept_ms"] if corr else 0.0
        self.scale = corr["scale"] if corr else 1.0
        self.factors: dict[str, float] = (corr or {}).get("factors") or {}
        # key -> (time, lower half-width, upper half-width)
        self.entries: dict[BlockKey, tuple[float, float, float]] = {}
        self._contexts: dict[tuple, _Context] = {}   # per (space, other knobs, e.g. res)
        spec = load_spec(self.space)
        self._fixed, self._space, self._resolution = fixed_parts(spec), spec.space, spec.resolution
        self._id = re.compile(rf"{re.escape(self.space)}:d=(\d+),e=(\d+),k=(\d+)(?:,res=(\d{{1,6}}))?", re.ASCII)
        for vid, b in doc["blocks"].items():
            lo, hi = b["ci95_ms"]
            med = b["ms"]
            key = block_key(parse_variant(vid))
            entry = self.entries[key] = (med, med - (lo if lo is not None else med),
                                         (hi if hi is not None else med) - med)
            f = self.factors.get(key[1], 1.0)
            context = self._contexts.setdefault((key[0], key[4]), _Context(len(self._space.stages)))
            context.blocks[key[1] if key[2] is None else (key[1], key[2] + key[3])] = \
                (med, f * med, f * entry[1], f * entry[2])

    def keys(self, variant: str | Variant) -> tuple[Variant, list[BlockKey]]:
        v = parse_variant(variant) if isinstance(variant, str) else variant
        if v.name != self.space:
            raise UserError(f"{v} is not of {self.space}, the space this table measures")
        keys = arch_blocks(v)
        missing = [k for k in dict.fromkeys(keys) if k not in self.entries]
        if missing:
            res = dict(missing[0][4]).get("res", v.res)
            raise UserError(f"the table lacks {len(missing)} block(s) of {v}: "
                            f"{', '.join(str(block_variant(k)) for k in missing[:4])}"
                            f"{', ...' if len(missing) > 4 else ''} (it has res "
                            f"{', '.join(map(str, self.doc.get('resolutions', [])))}; build it at res {res})")
        return v, keys

    def predict(self, variant: str | Variant) -> Prediction:
        """The hot path: the fixed parts' share and each stage's, remembered by the stage's digits."""
        fast = self._canonical(variant) if isinstance(variant, str) else None
        if fast is None:
            v = parse_variant(variant) if isinstance(variant, str) else variant
            fast = (str(v), other_knobs(v), *arch_of(v, self._space)) if v.name == self.space else None
        try:
            text, other, d, e, k = fast
            context = self._contexts[(self.space, other)]
            raw, total, lo2, hi2 = context.fixed or context.fix(self._fixed)
            for i, (stage, (a, b, _)) in enumerate(zip(context.stages, self._space.form(d)[2])):
                share = stage.get(e[a:b] + k[a:b]) or context.stage(i, e[a:b], k[a:b])
                raw, total, lo2, hi2 = raw + share[0], total + share[1], lo2 + share[2], hi2 + share[3]
        except (KeyError, TypeError):
            self.keys(variant)     # names what the table lacks, or that it is not of its space
            raise
        ms = self.intercept + self.scale * total
        return Prediction(text, ms, (ms - self.scale * math.sqrt(lo2), ms + self.scale * math.sqrt(hi2)), raw)

    def _canonical(self, text: str) -> tuple | None:
        """(ID, other knobs, d, e, k) of an ID already in canonical form (what `lut sample` and
        every command print), read without the general parser; None for anything else, which
        parse_variant then reads (the same answer, 3x slower: tests check they agree)."""
        m = self._id.fullmatch(text)
        if not m:
            return None
        d, e, k, res = m.groups()
        form = self._space.form(d)
        if form is None or not form[3].fullmatch(e) or not form[4].fullmatch(k):
            return None
        if res is None:
            return text, (), d, e, k
        if res[0] == "0" or int(res) < 32 or int(res) == self._resolution:
            return None
        return text, (("res", int(res)),), d, e, k

    def breakdown(self, variant: str | Variant) -> list[dict]:
        """Each block of the network in order: its table entry and what it adds to the prediction."""
        v, keys = self.keys(variant)
        blocks = self.doc["blocks"]
        rows = []
        for layer, k in zip(layer_names(v, len(keys)), keys):
            vid = str(block_variant(k))
            b = blocks[vid]
            rows.append({"layer": layer, "block": vid, "ofa_key": b["ofa_key"], "ms": b["ms"], "ci95_ms": b["ci95_ms"],
                         "contributes_ms": self.scale * self.factors.get(k[1], 1.0) * b["ms"]})
        return rows


def layer_names(v: Variant, n: int) -> list[str]:
    """The network's layer names (stem, bneck1.., last_conv, pool, [head_conv], classifier) for
    its n blocks in arch_blocks order: how per-layer profiles line up with the table."""
    tail = ["last_conv", "pool"] + (["head_conv"] if v.spec.head_conv else []) + ["classifier"]
    return ["stem"] + [f"bneck{i}" for i in range(1, n - len(tail))] + tail

