"""The paper's Tables 3-7, with this project's measurements beside the published numbers.

`build` makes the JSON document; `render` turns it into md, csv, tex or json. A cell the store does
not have is "unmeasured", never blank and never zero.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from ..core.registry import format_of as exported_format
from ..zoo.arch import resolve
from ..zoo.cost import summary
from ..zoo.spec import parse_variant
from ..core.output import num
from ..core.output import dumps
from ..core.results import SCHEMA, Result
from .accuracy import PIXELS
from ..measure.restate import paired
from .measured import Measured, format_of, provenance
from .rank import spearman

FORMATS = ("md", "csv", "tex", "json")
UNMEASURED = "unmeasured"
NOT_PUBLISHED = "not published here"     # no published number found: never a guessed one


@dataclass(frozen=True)
class PaperTable:
    number: int
    title: str
    precision: str
    pixels: tuple[str, ...]
    rows: tuple[tuple[str, str], ...]    # (the paper's network label, variant ID)
    fhs: bool = False                    # also show the int8-with-float-h-swish flavour
    metric: str = "top-1 (%)"            # the accuracy column (accuracy.csv's top1 holds the task's metric)
    blocks: int = 1                      # equal runs of rows, each relative to its own first (Table 7: full, half res)
    notes: tuple[str, ...] = ("top-1: published (top1_source) or a user's --accuracy file; never estimated",
                              "paper: published ms on Pixel phones (P-1/P-2/P-3), TFLite, one thread on one large core")

    @property
    def variants(self) -> list[str]:
        return [v for _, v in self.rows]

    def first(self, variant: str) -> str:
        """The row `variant` is relative to: the first of its block."""
        size = len(self.rows) // self.blocks
        return self.variants[self.variants.index(variant) // size * size]

    def needs(self, runtime: str) -> list[tuple[str, str]]:
        """(variant, precision) cells that fill the table on `runtime` (the float-h-swish flavour
        where the runtime has it: TFLite's)."""
        precisions = [self.precision] + (["int8-fhs"] if self.fhs and exported_format(runtime, "int8-fhs") else [])
        return [(v, p) for p in precisions for v in self.variants]


def _table5_rows():
    for label, v in (("V3-Large 1.0", "mobilenet_v3_large"), ("ReLU", "mobilenet_v3_large:act=relu"),
                     ("h-swish @16", "mobilenet_v3_large:act=hswish@16"),
                     ("h-swish @112", "mobilenet_v3_large:act=hswish@112")):
        yield label, v
        yield f"{label}, no-opt", v + (",hswish=naive" if ":" in v else ":hswish=naive")


def _table6_rows():
    for label, backbone, widths in (("V2", "mobilenet_v2", ()), ("MnasNet", "mnasnet_a1", ()),
                                    ("V3", "mobilenet_v3_large", ()), ("V2", "mobilenet_v2", (0.35, 0.5)),
                                    ("MnasNet", "mnasnet_a1", (0.35, 0.5)), ("V3-Small", "mobilenet_v3_small", ())):
        for w in widths:
            yield f"{label} {w:g}", f"ssdlite_{backbone}:width={w:g}"
        if not widths:
            yield label, f"ssdlite_{backbone}"
        if backbone.startswith("mobilenet_v3"):
            yield f"{label} (halved tail)", f"ssdlite_{backbone}:reduced_tail=true"


_TABLE7 = (  # backbone, RF2, head (R-ASPP or LR-ASPP), filters: Table 7's columns
    ("V2", "mobilenet_v2", False, "raspp", 256), ("V2", "mobilenet_v2", True, "raspp", 256),
    ("V2", "mobilenet_v2", True, "lraspp", 256), ("V2", "mobilenet_v2", True, "lraspp", 128),
    ("V3", "mobilenet_v3_large", False, "raspp", 256), ("V3", "mobilenet_v3_large", True, "raspp", 256),
    ("V3", "mobilenet_v3_large", True, "lraspp", 256), ("V3", "mobilenet_v3_large", True, "lraspp", 128),
    ("V2 0.5", "mobilenet_v2:width=0.5", True, "lraspp", 128), ("V2 0.35", "mobilenet_v2:width=0.35", True, "lraspp", 128),
    ("V3-Small", "mobilenet_v3_small", True, "lraspp", 128))


def _table7_rows():
    for res, where in ((None, "full"), ("512x1024", "half")):
        for label, backbone, rf2, head, filters in _TABLE7:
            knobs = [k for k in (f"filters={filters}" if filters != (256 if head == "raspp" else 128) else "",
                                 "reduced_tail=true" if rf2 else "", f"res={res}" if res else "") if k]
            name, _, width = backbone.partition(":")
            knobs += [width] if width else []
            v = str(parse_variant(f"{head}_{name}" + (":" + ",".join(knobs) if knobs else "")))
            yield (f"{label}{', RF2' if rf2 else ''}, {'LR-ASPP' if head == 'lraspp' else 'R-ASPP'} {filters}, "
                   f"{where} res"), v


TABLES = {
    3: PaperTable(3, "Table 3: floating point, single core", "fp32", PIXELS, (
        ("V3-Large 1.0", "mobilenet_v3_large"), ("V3-Large 0.75", "mobilenet_v3_large:width=0.75"),
        ("MnasNet-A1", "mnasnet_a1"), ("Proxyless", "proxylessnas_mobile"), ("V2 1.0", "mobilenet_v2"),
        ("V3-Small 1.0", "mobilenet_v3_small"), ("V3-Small 0.75", "mobilenet_v3_small:width=0.75"),
        ("Mnas-small", "mnasnet_small"), ("V2 0.35", "mobilenet_v2:width=0.35"))),
    4: PaperTable(4, "Table 4: quantized (8-bit), single core", "int8", PIXELS, (
        ("V3-Large 1.0", "mobilenet_v3_large"), ("V2 1.0", "mobilenet_v2"), ("V3-Small", "mobilenet_v3_small"),
        ("V2 0.35", "mobilenet_v2:width=0.35")), fhs=True),
    5: PaperTable(5, "Table 5: non-linearities in V3-Large (no-opt = h-swish not fused)", "fp32", ("pixel1",),
                  tuple(_table5_rows())),
    6: PaperTable(6, "Table 6: SSDLite detection at 320x320 (latency to the raw box and class tensors)", "fp32",
                  ("pixel1",), tuple(_table6_rows()), metric="COCO mAP", notes=(
                      "mAP: published (COCO test, SSDLite) or a user's --accuracy file; never estimated",
                      "latency: the network up to its raw box encodings and class scores, no anchor decoding and no "
                      "NMS (as TFLite detection models are commonly exported); the paper's V1 row has no network here",
                      "paper: published ms on Pixel 1, TFLite, one thread on one large core; paper params/MAdds its "
                      "Table 6 (models/paper_cost.csv)")),
    7: PaperTable(7, "Table 7: LR-ASPP and R-ASPP segmentation, 19 classes (full 1024x2048, then half 512x1024)",
                  "fp32", ("pixel3",), tuple(_table7_rows()), metric="Cityscapes mIOU", blocks=2, notes=(
                      "mIOU: published (Cityscapes val, at full resolution) or a user's --accuracy file; never estimated",
                      "RF2: the last block's filters halved (reduced_tail); LR-ASPP 128 filters unless said; latency up "
                      "to the logits upsampled to the input; relative: to the first row of the same resolution",
                      "paper: published ms on Pixel 3 (its CPU (f) and CPU (h) columns), TFLite, one thread on one "
                      "large core; paper params/MAdds its Table 7 at 1024x2048 (models/paper_cost.csv)")),
}


def relative(r: Result, first: Result | None) -> tuple[float | None, list | None]:
    """r / first: the paired ratio by r's statistic (with its interval) where both were measured
    together, else the quotient of their headlines (no interval: two numbers of different times
    drift apart)."""
    if first is None:
        return None, None
    q = paired(r, first)
    if q is not None:
        return q.value, list(q.ci95)
    ms, base = r.headline()[0], first.headline()[0]
    return (ms / base if ms is not None and base else None), None


def _cell(r: Result | None, first: Result | None) -> dict | None:
    if r is None:
        return None
    ms, stat = r.headline()
    rel, rel_ci = relative(r, first)
    return {"ms": ms, "statistic": stat, "median_ms": r.latency.median, "ci95": list(r.latency.ci95), "n": r.n,
            "relative": rel, "relative_ci95": rel_ci, "noisy": r.noisy}


def build(number: int, store, devices: list[str], runtime: str, accuracy, paper, statistic: str) -> dict:
    """The table's document, every measurement read by `statistic` (measure/restate.py)."""
    t = TABLES[number]
    fmt = format_of(runtime, t.precision)
    measured = {d: Measured(store, d, runtime, statistic, t.variants) for d in devices}
    # the int8-with-float-h-swish flavour gets its columns only where it was measured
    fhs_fmt = exported_format(runtime, "int8-fhs") if t.fhs else None
    if fhs_fmt and not any(m.get(v, fhs_fmt) for m in measured.values() for v in t.variants):
        fhs_fmt = None
    used: dict[str, list[Result]] = {d: [] for d in devices}
    rows = []
    for label, variant in t.rows:
        base = t.first(variant)
        block = [(v, fmt) for v in t.variants if t.first(v) == base]
        firsts = {d: m.best_first(base, fmt, block) for d, m in measured.items()}
        paper_first = paper.table(base, t.precision, str(number))
        cost = summary(resolve(variant))
        top1 = accuracy.top1(variant, t.precision)
        published = paper.table(variant, t.precision, str(number))
        row = {"network": label, "variant": variant, "top1": top1.value if top1 else None,
               "top1_source": top1.source if top1 else "unpublished", "madds": cost["madds"],
               "params": cost["params"], "measured": {}, "missing": {},
               "paper": {**{p: published.get(p) for p in t.pixels},
                         "relative": {p: published[p] / paper_first[p] if p in published and p in paper_first
                                      else None for p in t.pixels}, **paper.cost(variant)}}
        for d, m in measured.items():
            r = m.get(variant, fmt, near=firsts[d])
            row["measured"][d] = _cell(r, firsts[d])
            if r is None:
                row["missing"][d] = f"{UNMEASURED}: no {runtime} ({fmt}) measurement of {variant} on {d} in the store"
            else:
                used[d].append(r)
            if fhs_fmt:
                f = m.get(variant, fhs_fmt, near=firsts[d])
                row.setdefault("measured_fhs", {})[d] = _cell(f, firsts[d])
                used[d] += [f] if f else []
        rows.append(row)
    return {"table": number, "rank_correlation": {d: rank_correlation(rows, d, t.pixels[0]) for d in devices}, "title": t.title, "device": devices, "runtime": runtime, "format": fmt,
            "precision": t.precision, "statistic": statistic, "fhs_format": fhs_fmt, "metric": t.metric,
            "produced_by": {d: provenance(used[d]) for d in devices}, "paper_devices": list(t.pixels),
            "rows": rows, "results": [r.to_json() for d in devices for r in used[d]],
            "notes": [t.notes[0], "MAdds and params: analytic, mbv3bench cost.py",
                      f"measured: ms, the {statistic} of the block medians with its 95% CI (a cell measured before "
                      "blocks were kept: as recorded, its statistic named; the mean where a phone log gives no median); "
                      "relative = row / first row: the paired ratio by the statistic [its 95% CI] where both were "
                      "measured in the same rounds, else the quotient of the two",
                      *t.notes[1:]]}


def rank_correlation(rows: list[dict], device: str, pixel: str) -> dict:
    """Spearman's rho of the device's measured ms with the paper's ms on `pixel`, over the rows that
    have both."""
    pairs = [(r["measured"][device]["ms"], r["paper"][pixel]) for r in rows
             if r["measured"][device] and r["measured"][device]["ms"] and r["paper"].get(pixel) is not None]
    return {"against": pixel, "rows": len(pairs), "spearman": spearman([a for a, _ in pairs], [b for _, b in pairs])}


def rank_line(doc: dict, device: str) -> str:
    rc = doc["rank_correlation"][device]
    what = (f"rank correlation (Spearman, ties averaged) of the {doc['statistic']} ms measured on {device} with "
            f"the paper's P-{rc['against'][-1]} ms")
    if rc["spearman"] is None:
        return f"{what}: n/a ({rc['rows']} row(s) measured and published; it needs 3 with an order on both sides)"
    return f"{what}: {rc['spearman']:.3f} over {rc['rows']} rows"


# ---- rendering ---------------------------------------------------------------------------------

def ms_cell(c: dict | None, doc_statistic: str) -> str:
    if c is None:
        return UNMEASURED
    lo, hi = c["ci95"]
    ci = f"{lo:.2f}-{hi:.2f}" if lo is not None and hi is not None else "no CI: samples not kept"  # phone logs
    stat = "" if c["statistic"] == doc_statistic else f" {c['statistic']}"
    return f"{num(c['ms'], '.2f')}{stat} (n={num(c['n'], 'd')}, {ci})" + (" noisy" if c["noisy"] else "")


def rel_cell(x, ci=None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}x [{ci[0]:.3f}-{ci[1]:.3f}]" if ci and ci[0] is not None else f"{x:.2f}x"


def _accuracy(x: float | None) -> str:
    """As published: one decimal (top-1, mAP), two where the paper gives two (mIOU)."""
    if x is None:
        return "unpublished"
    return f"{x:.1f}" if round(x, 1) == x else f"{x:.2f}"


def grid(doc: dict) -> tuple[list[str], list[list[str]]]:
    """Header and string rows, shared by md, csv and tex."""
    pix, statistic = doc["paper_devices"], doc["statistic"]
    cost = any("params_m" in r["paper"] for r in doc["rows"])
    head = ["network", "variant", doc["metric"], "MAdds (M)", "params (M)"] + (["paper MAdds (M)", "paper params (M)"]
                                                                              if cost else [])
    for d in doc["device"]:
        head += [f"{d} {doc['format']} ms (n, 95% CI)", f"{d} rel."]
        if doc["fhs_format"]:
            head += [f"{d} {doc['fhs_format']} ms (n, 95% CI)", f"{d} {doc['fhs_format']} rel."]
    head += [f"paper P-{p[-1]} ms" for p in pix] + [f"paper P-{p[-1]} rel." for p in pix]
    body = []
    for r in doc["rows"]:
        line = [r["network"], r["variant"], _accuracy(r["top1"]),
                f"{r['madds'] / 1e6:.1f}", f"{r['params'] / 1e6:.2f}"]
        if cost:
            line += [f"{r['paper'][k]:g}" if k in r["paper"] else NOT_PUBLISHED for k in ("madds_m", "params_m")]
        for d in doc["device"]:
            c = r["measured"][d]
            line += [ms_cell(c, statistic), rel_cell(c and c["relative"], c and c["relative_ci95"])]
            if doc["fhs_format"]:
                f = r["measured_fhs"][d]
                line += [ms_cell(f, statistic), rel_cell(f and f["relative"], f and f["relative_ci95"])]
        line += [f"{r['paper'][p]:g}" if r["paper"][p] is not None else NOT_PUBLISHED for p in pix]
        line += [rel_cell(r["paper"]["relative"][p]) for p in pix]
        body.append(line)
    return head, body


def _caption(doc: dict) -> list[str]:
    return ([f"{doc['title']} ({doc['precision']}, runtime {doc['runtime']})"]
            + [rank_line(doc, d) for d in doc["device"]]
            + [f"measured on {d}: {doc['produced_by'][d]}" for d in doc["device"]] + doc["notes"])


def _md(doc: dict) -> str:
    head, body = grid(doc)
    cap = _caption(doc)
    lines = [f"## {cap[0]}", ""] + [f"| {' | '.join(x)} |" for x in [head, ["---"] * len(head)] + body]
    return "\n".join(lines + [""] + [f"- {c}" for c in cap[1:]]) + "\n"


def _csv(doc: dict) -> str:
    head, body = grid(doc)
    out = io.StringIO()
    out.write("".join(f"# {c}\n" for c in _caption(doc)))
    csv.writer(out, lineterminator="\n").writerows([head] + body)
    return out.getvalue()


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "{": r"\{", "}": r"\}",
        "$": r"\$", "~": r"\textasciitilde{}", "^": r"\^{}"}


def _tex_escape(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in s)


def _tex(doc: dict) -> str:
    head, body = grid(doc)
    cap = _caption(doc)
    rows = [" & ".join(_tex_escape(x) for x in r) + r" \\" for r in [head] + body]
    return "\n".join([r"\begin{table}[t]", r"\centering", r"\scriptsize",
                      r"\begin{tabular}{" + "l" * 2 + "r" * (len(head) - 2) + "}", r"\hline", rows[0], r"\hline",
                      *rows[1:], r"\hline", r"\end{tabular}",
                      r"\caption{" + _tex_escape(". ".join(cap)) + "}", r"\end{table}"]) + "\n"


def render(doc: dict, fmt: str) -> str:
    return {"md": _md, "csv": _csv, "tex": _tex, "json": _json}[fmt](doc)


def _json(doc: dict) -> str:
    """The JSON envelope every command prints: here `results` are the measurements the table shows."""
    return dumps({"schema": SCHEMA, **doc}) + "\n"
