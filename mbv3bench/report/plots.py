"""The paper's Figures 1, 2, 7, 8 and 9, per-layer bars and a roofline, drawn from the store.

Measured points are filled markers; the paper's published Pixel latencies are hollow markers on
their own (top) axis, since a phone's milliseconds and this machine's are not one scale. A point
without a published (or user-given) top-1 is left out of accuracy axes and named under the plot.
matplotlib is imported only when drawing, and only its Agg/SVG canvases are used.
"""
from __future__ import annotations

import datetime
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ..zoo.arch import resolve
from ..zoo.cost import summary
from ..core.output import num, write_figure
from ..core.results import Result
from ..core.errors import UserError
from ..core.registry import FIGURE_FILES, PROTOCOL, RUNTIMES
from ..zoo.spec import parse_variant
from .measured import Measured, format_of, measured_on

FIGURES = tuple(FIGURE_FILES)
WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.25)
RESOLUTIONS = (96, 128, 160, 192, 224, 256)
DEFAULT_MODELS = ("mobilenet_v3_large", "mobilenet_v3_small")
PAPER_PIXEL = {"pixel2": "pixel2", "pixel3": "pixel3"}   # other devices compare with the paper's Pixel 1


def _v(name: str, **knobs) -> str:
    return str(parse_variant(name + (":" + ",".join(f"{k}={x}" for k, x in knobs.items()) if knobs else "")))


@dataclass(frozen=True)
class Series:
    label: str
    variants: tuple[str, ...]
    tags: tuple[str, ...]         # the text beside each point (width, resolution, step)
    color: str
    marker: str = "o"
    line: bool = True


@dataclass(frozen=True)
class Tradeoff:
    number: str
    title: str
    series: tuple[Series, ...]
    x: str = "latency"            # latency (measured) | madds (analytic)
    cost_panel: bool = False      # add measured latency vs MAdds, which needs no top-1
    note: str = ""

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(v for s in self.series for v in s.variants))


def _widths(name: str, label: str, color: str, marker: str, widths=WIDTHS, **knobs) -> Series:
    return Series(label, tuple(_v(name, width=w, **knobs) for w in widths), tuple(f"{w:g}" for w in widths),
                  color, marker)


def _single(name: str, label: str, color: str, marker: str) -> Series:
    return Series(label, (name,), ("",), color, marker, line=False)


def _families() -> tuple[Series, ...]:
    return (_widths("mobilenet_v3_large", "V3-Large (width)", "tab:red", "o"),
            _widths("mobilenet_v3_small", "V3-Small (width)", "tab:orange", "o"),
            _widths("mobilenet_v2", "MobileNetV2 (width)", "tab:blue", "s", (0.35, 0.5, 0.75, 1.0, 1.4)),
            _single("mnasnet_a1", "MnasNet-A1", "tab:green", "D"),
            _single("mnasnet_small", "MnasNet-small", "tab:olive", "D"),
            _single("proxylessnas_mobile", "ProxylessNAS-mobile", "tab:purple", "^"))


def _resolutions(name: str, label: str, color: str) -> Series:
    return Series(label, tuple(_v(name, res=r) for r in RESOLUTIONS), tuple(map(str, RESOLUTIONS)), color, "s")


def _component_path() -> Series:
    """Section 5's redesigns in the order of Figure 9, from the searched network to V3-Large."""
    steps = (("mobilenet_v3_large:act=relu,last_stage=original,stem=32",
              "search + NetAdapt: 32-filter stem, original last stage, ReLU"),
             ("mobilenet_v3_large:act=relu,last_stage=original", "+ 16-filter stem"),
             ("mobilenet_v3_large:act=relu", "+ efficient last stage"),
             ("mobilenet_v3_large", "+ h-swish = V3-Large"))
    return Series("V3-Large component path", tuple(v for v, _ in steps), tuple(t for _, t in steps), "tab:red", "o")


def tradeoffs() -> dict[str, Tradeoff]:
    return {
        "1": Tradeoff("1", "top-1 vs latency", _families()),
        "2": Tradeoff("2", "top-1 vs MAdds", _families(), x="madds"),
        "7": Tradeoff("7", "width multiplier (at 224) vs input resolution (at 1.0)", (
            _widths("mobilenet_v3_large", "V3-Large, width 0.35-1.25", "tab:red", "o"),
            _resolutions("mobilenet_v3_large", "V3-Large, resolution 96-256", "darkred"),
            _widths("mobilenet_v3_small", "V3-Small, width 0.35-1.25", "tab:orange", "o"),
            _resolutions("mobilenet_v3_small", "V3-Small, resolution 96-256", "saddlebrown")), cost_panel=True),
        "8": Tradeoff("8", "h-swish vs ReLU over widths, fused vs naive h-swish", (
            _widths("mobilenet_v3_large", "h-swish (fused)", "tab:red", "o"),
            _widths("mobilenet_v3_large", "h-swish naive (no-opt)", "tab:gray", "v", hswish="naive"),
            _widths("mobilenet_v3_large", "ReLU everywhere", "tab:blue", "s", act="relu")), cost_panel=True),
        "9": Tradeoff("9", "the component path of V3-Large", (_component_path(),), cost_panel=True,
                      note="The searches (platform-aware NAS, NetAdapt) are not reproduced: the first point is "
                           "their result as the paper describes it (32-filter stem, Figure 5's original last "
                           "stage, ReLU), then one redesign per step: stem=32 -> 16 filters, last_stage=original "
                           "-> efficient, act=relu -> h-swish. Only V3-Large has a published top-1."),
    }


def needs(figure: str, models: list[str] | None = None) -> list[tuple[str, str]]:
    """(variant, precision) cells that fill a figure; figure 2 needs none."""
    if figure in ("layers", "roofline"):
        return [(v, "fp32") for v in (models or DEFAULT_MODELS)]
    fig = tradeoffs()[figure]
    return [(v, "fp32") for v in fig.variants] if fig.x == "latency" else []


@dataclass
class Context:
    store: object
    device: str
    runtime: str
    accuracy: object
    paper: object
    calibration: dict | None = None   # {"gemm": GMAC/s, "membw": GB/s} for the roofline
    statistic: str = PROTOCOL.statistic   # what every measurement is read by

    def measured(self, runtime: str | None = None) -> Measured:
        return Measured(self.store, self.device, runtime or self.runtime, self.statistic)

    def missing_runs(self, figure: str, variants: list[str], runtime: str | None = None) -> str:
        runtime = runtime or self.runtime
        how = "pass --measure" if self.device == "local" else f"measure on {self.device}"
        return (f"figure {figure} needs measurements of {', '.join(variants)} on {self.device}/{runtime}: run "
                f"`mbv3bench run --device {self.device} --models {','.join(variants)} --runtimes {runtime}` or {how}")


# ---- drawing helpers -----------------------------------------------------------------------------

def _new_figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _footnote(fig, lines: list[str]) -> None:
    text = "\n".join(textwrap.fill(x, 150) for x in lines if x)
    if text:
        fig.get_layout_engine().set(h_pad=0.1)
        fig.supxlabel(text, fontsize=7, ha="left", x=0.01, color="dimgray")


def _save(fig, out: Path) -> Path:
    out = Path(out)
    write_figure(fig, out, dpi=150, format="svg" if out.suffix.lower() == ".svg" else "png")
    return out


def _timed(r: Result | None) -> Result | None:
    """A result a plot can place: one with a positive end-to-end time (an ingested profiler-only
    log has none; such cells count as unmeasured here, never as zero)."""
    ms = r.headline()[0] if r else None
    return r if ms is not None and ms > 0 else None


def _today() -> str:
    return datetime.date.today().isoformat()


# ---- top-1 trade-offs (figures 1, 2, 7, 8, 9) ---------------------------------------------------

def _tradeoff(t: Tradeoff, ctx: Context, out: Path) -> Path:
    from matplotlib.lines import Line2D

    fmt = format_of(ctx.runtime, "fp32")
    m = ctx.measured()
    pixel = PAPER_PIXEL.get(ctx.device, "pixel1")
    got = {v: _timed(m.get(v, fmt)) for v in t.variants}
    top1 = {v: ctx.accuracy.top1(v) for v in t.variants}
    madds = {v: summary(resolve(v))["madds"] / 1e6 for v in t.variants}
    measuring = t.x == "latency" or t.cost_panel
    unmeasured = [v for v in t.variants if got[v] is None] if measuring else []
    if measuring and len(unmeasured) == len(t.variants):
        raise UserError(ctx.missing_runs(t.number, t.variants))
    no_top1 = [v for v in t.variants if top1[v] is None]
    placed = [v for v in t.variants if top1[v] and (t.x == "madds" or got[v])]
    if not placed and not t.cost_panel:
        raise UserError(f"figure {t.number}: no measured variant has a published top-1; pass --accuracy FILE "
                        f"with the top-1 of {', '.join(no_top1)}")

    def x_of(v):
        return got[v].headline()[0] if t.x == "latency" else madds[v]

    fig = _new_figure((13, 6) if t.cost_panel else (9, 6.5))
    axes = fig.subplots(1, 2) if t.cost_panel else [fig.subplots()]
    ax = axes[0]
    paper_ax = ax.twiny() if t.x == "latency" else None
    published = {}
    for s in t.series:
        pts = [(x_of(v), top1[v].value, tag) for v, tag in zip(s.variants, s.tags) if v in placed]
        _plot_points(ax, pts, s, filled=True)
        if paper_ax is not None:
            pub = {v: (ctx.paper.best(v, "fp32", pixel), tag) for v, tag in zip(s.variants, s.tags) if top1[v]}
            published.update({v: p[0] for v, (p, _) in pub.items() if p})
            _plot_points(paper_ax, [(p[0], top1[v].value, tag) for v, (p, tag) in pub.items() if p], s, filled=False)
    ref = _align(ax, paper_ax, {v: x_of(v) for v in placed}, published) if paper_ax else None
    unit = f"measured latency on {ctx.device}/{ctx.runtime} (ms, {ctx.statistic})" if t.x == "latency" else \
        "MAdds (millions, analytic: cost.py)"
    ax.set_xlabel(unit + (", filled markers" if paper_ax else ""))
    ax.set_ylabel("ImageNet top-1 (%), published")
    ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=s.color, marker=s.marker, linestyle="-" if s.line else "", label=s.label)
               for s in t.series]
    if paper_ax is not None:
        paper_ax.set_xlabel(f"published latency on {pixel} (ms, the paper), hollow markers"
                            + (f"\nscaled so that {ref} sits on its measured point" if ref else ""),
                            color="dimgray")
        handles += [Line2D([], [], color="k", marker="o", linestyle="", label=f"measured ({ctx.device})"),
                    Line2D([], [], color="k", marker="o", markerfacecolor="none", linestyle=":",
                           label=f"published ({pixel}, top axis)")]
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    if t.cost_panel:
        _cost_panel(axes[1], t, got, madds, ctx)
        ax.set_title("(a) top-1 vs latency (points with a published top-1)", fontsize=10)
    if measuring:
        where = f"{ctx.device} / {ctx.runtime} ({fmt}), measured {measured_on([r for r in got.values() if r])}"
    else:
        where = f"analytic, no measurement needed; drawn {_today()}"
    fig.suptitle(f"Figure {t.number}: {t.title}\n{where}", fontsize=12)
    _footnote(fig, [t.note,
                    f"Not measured on {ctx.device}/{ctx.runtime}: {', '.join(unmeasured)}." if unmeasured else "",
                    f"No published top-1 (left out of the top-1 axis; add them with --accuracy FILE): "
                    f"{', '.join(no_top1)}." if no_top1 else ""])
    return _save(fig, out)


def _align(ax, paper_ax, measured: dict, published: dict) -> str | None:
    """Scales the published axis so one reference network sits at the same x on both: a hollow
    marker off its filled twin then shows a relative cost that differs from the paper's phone."""
    common = [v for v in measured if v in published]
    if not common:
        return None
    ref = "mobilenet_v3_large" if "mobilenet_v3_large" in common else common[0]
    k = published[ref] / measured[ref]
    xs = list(measured.values()) + [p / k for p in published.values()]
    lo, hi = min(xs), max(xs)
    pad = 0.05 * (hi - lo or hi)
    ax.set_xlim(max(0, lo - pad), hi + pad)
    paper_ax.set_xlim(max(0, lo - pad) * k, (hi + pad) * k)
    return ref


def _plot_points(ax, pts, s: Series, filled: bool) -> None:
    if not pts:
        return
    xs, ys, tags = zip(*pts)
    ax.plot(xs, ys, color=s.color, marker=s.marker, markersize=7, linestyle=("-" if filled else ":") if s.line else "",
            markerfacecolor=s.color if filled else "none", alpha=1 if filled else 0.7)
    for x, y, tag in zip(xs, ys, tags):
        if tag and filled:
            ax.annotate(tag, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7, color=s.color)


def _cost_panel(ax, t: Tradeoff, got: dict, madds: dict, ctx: Context) -> None:
    for s in t.series:
        pts = [(madds[v], got[v].headline()[0], tag) for v, tag in zip(s.variants, s.tags) if got[v]]
        _plot_points(ax, pts, s, filled=True)
    ax.set_xlabel("MAdds (millions, analytic: cost.py)")
    ax.set_ylabel(f"measured latency on {ctx.device}/{ctx.runtime} (ms, {ctx.statistic})")
    ax.set_title("(b) latency vs MAdds (every measured point, no top-1 needed)", fontsize=10)
    ax.grid(alpha=0.3)


# ---- per-layer bars ------------------------------------------------------------------------------

def _layer_order(name: str) -> tuple:
    m = re.fullmatch(r"bneck(\d+)", name)
    fixed = {"stem": 0, "last_conv": 2, "pool": 3, "head_conv": 4, "classifier": 5}
    return (1, int(m.group(1))) if m else (fixed.get(name, 6), 0)


def _profiled(ctx: Context, models: list[str], runtimes: list[str], figure: str) -> list[tuple[str, str, Result]]:
    """(variant, runtime, result) with per-layer times; a UserError naming the runs when there are none."""
    found, missing = [], {}
    for rt in runtimes:
        m = ctx.measured(rt)
        for v in models:
            r = _timed(m.get(v, format_of(rt, "fp32")))
            if r and r.per_layer:
                found.append((v, rt, r))
            else:
                missing.setdefault(rt, []).append(v)
    if not found:
        rt, vs = next(iter(missing.items()))
        raise UserError(ctx.missing_runs(figure, vs, rt) + " (with per-layer profiling, the default)")
    return found


def _layers(ctx: Context, out: Path, models: list[str], runtimes: list[str]) -> Path:
    found = _profiled(ctx, models, runtimes, "layers")
    names = sorted({row.name for _, _, r in found for row in r.per_layer}, key=_layer_order)
    fig = _new_figure((max(10, 0.45 * len(names) * max(1, len(found) / 2)), 6))
    ax = fig.subplots()
    width = 0.8 / len(found)
    for i, (v, rt, r) in enumerate(found):
        ms = {row.name: row.ms for row in r.per_layer}
        xs = [j + (i - (len(found) - 1) / 2) * width for j in range(len(names))]
        ax.bar(xs, [ms.get(n, 0.0) for n in names], width,
               label=f"{v} / {rt}: layers sum {num(r.per_layer_sum_ms, '.2f')} ms, end-to-end "
                     f"{r.headline()[1]} {r.headline()[0]:.2f} ms")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(f"layer time (ms: its share of the profiled runs,\nscaled to the end-to-end {ctx.statistic})")
    ax.set_xlabel("layer (the paper's names; a missing bar = the network has no such layer)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(f"Per-layer latency on {ctx.device}, {', '.join(sorted({rt for _, rt, _ in found}))}, "
                 f"measured {measured_on([r for _, _, r in found])}", fontsize=12)
    return _save(fig, out)


# ---- roofline ------------------------------------------------------------------------------------

def _roofline(ctx: Context, out: Path, models: list[str]) -> Path:
    import numpy as np

    found = _profiled(ctx, models, [ctx.runtime], "roofline")
    fig = _new_figure((10, 7))
    ax = fig.subplots()
    markers = {"conv": "s", "bneck": "o", "classifier": "^"}
    colors = ("tab:red", "tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:brown")
    xs_all, skipped = [], set()
    for (v, _, r), color in zip(found, colors * 4):
        cost = {layer["name"]: layer for layer in summary(resolve(v))["layers"]}
        kinds = {layer.name: layer.kind for layer in resolve(v).layers}
        for row in r.per_layer:
            c = cost.get(row.name)
            if not c or not c["madds"] or row.ms <= 0:
                skipped.add(row.name)
                continue
            x, y = c["madds"] / c["bytes"], c["madds"] / row.ms / 1e6
            xs_all.append(x)
            ax.plot(x, y, marker=markers.get(kinds[row.name], "o"), color=color, linestyle="")
            ax.annotate(row.name, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6, color=color)
        ax.plot([], [], marker="o", color=color, linestyle="", label=f"{v}: each layer")
    if not xs_all:
        raise UserError(f"roofline: no per-layer time of {', '.join(v for v, _, _ in found)} is a layer of the "
                        "network (per-layer rows of an ingested log are the runtime's ops, which have no analytic "
                        "cost); measure with `mbv3bench run` for the paper's layers")
    for kind, mk in markers.items():
        ax.plot([], [], marker=mk, color="gray", linestyle="", label=f"marker: {kind}")
    note = ""
    if ctx.calibration:
        peak, bw = ctx.calibration["gemm"], ctx.calibration["membw"]
        xs = np.logspace(np.log10(min(xs_all) / 2), np.log10(max(xs_all) * 2), 200)
        ax.plot(xs, np.minimum(peak, bw * xs), color="k", linewidth=1.5,
                label=f"roofline: peak {peak:.1f} GMAC/s (numpy fp32 GEMM), DRAM {bw:.1f} GB/s (measured)")
        note = ("A point above the roof: its working set stays in cache (the slope is DRAM bandwidth), or the "
                "runtime's kernel beats numpy's GEMM on this core.")
    else:
        note = (f"No calibration for {ctx.device}: its peak compute and bandwidth are unknown, so no roof is "
                f"drawn (only the local device can be calibrated here: `mbv3bench plot --figure roofline`).")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (MAC per byte; bytes = float32 activations in+out + weights, cost.py)")
    ax.set_ylabel("achieved GMAC/s (layer MAdds / layer time)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Roofline of each layer on {ctx.device} / {ctx.runtime} (fp32, 1 thread), measured "
                 f"{measured_on([r for _, _, r in found])}", fontsize=12)
    _footnote(fig, [note, f"Left out (no MAdds or no time): {', '.join(sorted(skipped, key=_layer_order))}."
                    if skipped else ""])
    return _save(fig, out)


def draw(figure: str, out: Path, ctx: Context, models: list[str] | None = None,
         runtimes: list[str] | None = None) -> Path:
    """Draws one figure into out (.png, or .svg); a UserError says which runs would fill a figure
    that has no data."""
    if figure not in FIGURES:
        raise UserError(f"unknown figure {figure!r}; allowed: {', '.join(FIGURES)}")
    models = [str(parse_variant(v)) for v in models] if models else list(DEFAULT_MODELS)
    if figure == "layers":
        return _layers(ctx, out, models, runtimes or list(RUNTIMES))
    if figure == "roofline":
        return _roofline(ctx, out, models)
    return _tradeoff(tradeoffs()[figure], ctx, out)
