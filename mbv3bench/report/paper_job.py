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

from ..runner import Cell, plan_grid
from .plots import tradeoffs
from .tables import TABLES

RUNTIMES = ("litert", "onnxruntime")      # the report's runtimes: LiteRT's tables and figures, then ORT's tables


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


def table3(docs: dict, device: str):
    """Table 3 as the job filled it, for the terminal: each runtime's measured ms and paired
    relative beside the paper's Pixel-1, and under it the rank correlation of each runtime's."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from .tables import rank_line, ms_cell, rel_cell

    shown = [docs[3, rt] for rt in RUNTIMES if (3, rt) in docs]
    base = shown[0]
    table = Table(title=f"{base['title']}, measured on {device}", title_justify="left")
    for col in ["network", base["metric"], "MAdds (M)"] + [h for d in shown for h in (
            f"{d['runtime']} {d['statistic']} ms (n, 95% CI)", f"{d['runtime']} rel.")] + ["paper P-1 ms", "paper rel."]:
        table.add_column(col, justify="left" if col == "network" else "right")
    for i, row in enumerate(base["rows"]):
        line = [row["network"], f"{row['top1']:g}" if row["top1"] is not None else "unpublished",
                f"{row['madds'] / 1e6:.1f}"]
        for d in shown:
            c = d["rows"][i]["measured"][device]
            line += [ms_cell(c, d["statistic"]), rel_cell(c and c["relative"], c and c["relative_ci95"])]
        pixel1 = row["paper"].get("pixel1")
        line += [f"{pixel1:g}" if pixel1 is not None else "not published", rel_cell(row["paper"]["relative"]["pixel1"])]
        table.add_row(*line)
    notes = [f"{d['runtime']}: {rank_line(d, device)}" for d in shown]
    notes += [f"{d['runtime']}: {d['produced_by'][device]}" for d in shown]
    notes.append("rel.: row / V3-Large 1.0; with [95% CI] the paired ratio of cells measured in the same rounds, "
                 "without one the quotient of two headlines")
    return Group(table, *(Text(n) for n in notes))
