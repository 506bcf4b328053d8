"""Per-op times -> rows: one per module at a depth of the model's module tree, or one per op.

Runtimes report each op's module path (OpRow.path); the rows are grouped in the parent, so any
depth, and the raw op rows, come from the one measurement. Our own networks show their paper
layers (depth 1). A file made elsewhere has no paper layers, and its top level can hide its blocks
(torchvision: `features`, `avgpool`, `classifier`), so the groups that contain them are found from
the paths and split (containers()).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Iterable

from ..core.results import LayerTime, OpRow

_SEPARATOR = re.compile(r"[/.]")


def name_path(name: str) -> tuple[str, ...]:
    """The path of a name from a tool that records no module tree of its own: each prefix that
    ends at a `/` or `.` is one level (`features.3.conv/Conv` -> `features`, `features.3`,
    `features.3.conv`, `features.3.conv/Conv`). Prefixes keep the name's own separators, so a
    group reads as the name it came from."""
    ends = [m.start() for m in _SEPARATOR.finditer(name)] + [len(name)]
    return tuple(name[:end] for end in ends if end)   # a leading separator opens no level


def group_at(path: tuple[str, ...], depth: int) -> str:
    """The op's group at `depth` (1 = the top level); a path that ends above it is its own group."""
    return path[min(depth, len(path)) - 1]


def containers(paths: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """The groups to split into their children to show a model's blocks, outermost first.

    A group holding more than half of all the modules that ran ops is a container of the blocks
    (torchvision's `features`, a wrapper `model`), not a block: it is split into its children, and
    so on while one of those holds more than half and has deeper modules. The groups beside it stay
    whole: torchvision's MobileNetV3 gives `features.0` ... `features.12`, `avgpool`, `classifier`,
    where one depth for all would split the classifier into its linears too. Distinct paths are
    counted, not ops or times: the grouping is a property of the model, the same in every run and
    whatever ops a runtime adds (ORT's layout reorders) or fuses.
    """
    paths = list(dict.fromkeys(p for p in paths if p))
    total, chain = len(paths), []
    while paths:   # the paths inside the last container
        depth = len(chain) + 1
        biggest, count = Counter(p[depth - 1] for p in paths).most_common(1)[0]
        paths = [p for p in paths if p[depth - 1] == biggest and len(p) > depth]
        if 2 * count <= total or not paths:
            break
        chain.append(biggest)
    return tuple(chain)


@dataclass(frozen=True)
class Grouping:
    depth: int | None   # None: one row per op
    auto: bool          # chosen by containers(), not asked for
    # auto: the containers split, outermost first (depth is one below the last); an op's group is
    # the first module on its path that is not one of them (the last one, if its path ends there)
    within: tuple[str, ...] = ()

    def group(self, path: tuple[str, ...]) -> str:
        if not self.within:
            return group_at(path, self.depth)
        level = 0
        while level < len(self.within) and level + 1 < len(path) and path[level] == self.within[level]:
            level += 1
        return path[level]

    def apply(self, ops: list[OpRow]) -> list[OpRow]:
        """The ops relabelled with their group as their layer (ops without a path, like the
        torch runtime's, keep theirs)."""
        return [replace(o, layer=self.group(o.path)) if o.path else o for o in ops]

    def describe(self, paper_layers: bool) -> str:
        if self.depth is None:
            return "per op"
        if paper_layers and self.depth == 1:
            return "per paper layer"
        if self.auto:
            where = f" in {self.within[-1]}" if self.within else ""
            return f"per module at depth {self.depth}{where} (chosen automatically)"
        return f"per module at depth {self.depth} (--group-depth)"

    def as_dict(self) -> dict:
        return {"depth": self.depth, "auto": self.auto, "within": list(self.within)}


def op_rows(ops: list[OpRow]) -> list[LayerTime]:
    """One row per op, nothing summed (two ops may share a node name: XNNPACK numbers the
    operators of each delegated partition from 0). A node name that does not name the module
    holding the op (LiteRT's `Convolution (NHWC, F32) IGEMM#17`, ORT's own reorders) gets it."""
    return [LayerTime(o.node if not o.path or o.path[-1] in o.node else f"{o.path[-1]}: {o.node}", o.op, o.ms)
            for o in ops]


def choose_grouping(ops: list[OpRow], *, depth: int | None, per_op: bool, paper_layers: bool) -> Grouping:
    """--per-op, else --group-depth, else depth 1 for a network with paper layers and the
    containers' children for anything else."""
    if per_op:
        return Grouping(None, auto=False)
    if depth is not None:
        return Grouping(depth, auto=False)
    if paper_layers:
        return Grouping(1, auto=False)
    within = containers(o.path for o in ops)
    return Grouping(len(within) + 1, auto=True, within=within)
