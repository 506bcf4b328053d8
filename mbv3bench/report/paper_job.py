"""The main job (`make run`, `mbv3bench run --paper`): what it measures, read off the paper's own
tables and figures, so a row added to one of them is measured without a second list to keep.

- Table 3 on LiteRT and on ONNX Runtime, each runtime's rows measured together (its "relative"
  column is then a paired ratio);
- Figure 1's points that have a published top-1 (only those can be placed on its top-1 axis), on
  LiteRT, measured with Table 3's LiteRT rows (most of them are Table 3's rows);
- Table 5 on LiteRT, its rows together with its own first row (V3-Large, measured a second time
  there, so that its no-opt ratios are paired too).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.registry import PROTOCOL
from ..runner import Cell, plan_grid
from .plots import tradeoffs
from .tables import TABLES

RUNTIMES = ("litert", "onnxruntime")      # the report's runtimes: LiteRT's tables and figures, then ORT's tables
# What fits the job in a few minutes on a 2-core machine: 3 processes per group, each >= 20 runs and
# >= 0.5 s per cell after 0.3 s of warm-up, no adaptive extension (--target-ci 0), 10 profiled runs.
# The intervals are t intervals over 3 processes (2 degrees of freedom): wide, and said so.
PROTOCOL_DEFAULTS = replace(PROTOCOL, runs=20, min_secs=0.5, warmup_runs=5, warmup_secs=0.3, profile_runs=10,
                            processes=3, target_ci=0.0)


@dataclass(frozen=True)
class Part:
    """Cells measured in the same rounds, and which table or figure they fill."""
    group: str
    runtime: str
    needs: tuple[tuple[str, str], ...]      # (variant, precision)


def figure1_published(accuracy) -> list[tuple[str, str]]:
    """Figure 1's (variant, precision) cells that have a published top-1: the points its top-1 axis can place."""
    return [(v, "fp32") for v in tradeoffs()["1"].variants if accuracy.top1(v, "fp32")]


def parts(accuracy) -> list[Part]:
    t3, t5 = TABLES[3], TABLES[5]
    return [Part("Table 3 and Figure 1", "litert", tuple(dict.fromkeys(t3.needs("litert") + figure1_published(accuracy)))),
            Part("Table 3", "onnxruntime", tuple(t3.needs("onnxruntime"))),
            Part("Table 5", "litert", tuple(t5.needs("litert")))]


def cells(accuracy) -> list[Cell]:
    """Every cell of the job, each tagged with its part, so each part is measured in rounds of its own."""
    return [replace(c, group=p.group) for p in parts(accuracy) for v, precision in p.needs
            for c in plan_grid([v], [p.runtime], [precision])]
