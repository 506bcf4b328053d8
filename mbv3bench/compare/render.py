"""A comparison as Markdown (a CI step summary or PR comment), JSON, or plain text."""
from __future__ import annotations

from ..core.output import dumps, num
from ..core.results import SCHEMA
from .verdict import NOT_COMPARED, REFERENCE, Comparison

MARK = {"regression": "🔴 regression", "improvement": "🟢 improvement", "unchanged": "unchanged",
        NOT_COMPARED: f"⚠️ {NOT_COMPARED}", REFERENCE: "drift reference"}


def _value(c: Comparison, v: float | None) -> str:
    return num(v, ",.0f") + " instr." if c.metric == "instructions" else num(v) + " ms"


def _ratio(c: Comparison) -> str:
    if c.ratio is None:
        return f"n/a ({c.how})"
    return f"{c.ratio:.3f} [{c.ci95[0]:.3f}, {c.ci95[1]:.3f}]"


def _cell(c: Comparison) -> str:
    name = c.a if c.a == c.b else f"{c.a} → {c.b}"
    return f"{name} on {c.runtime} ({c.format})"


def markdown(comparisons: list[Comparison], unmatched: list[str], header: dict) -> str:
    lines = [f"### mbv3bench compare: {header['what']}", "",
             f"{header['how']}. Threshold {100 * header['threshold']:g}%, test at p < 0.05.", "",
             "| cell | A | B | B/A (95% CI) | p | verdict |", "|---|---|---|---|---|---|"]
    lines += [f"| {_cell(c)} | {_value(c, c.a_value)} | {_value(c, c.b_value)} | {_ratio(c)} | "
              f"{num(c.p_value, '.2g')} | {MARK[c.verdict]} |" for c in comparisons]
    for c in comparisons:
        if c.layers:
            lines += ["", f"**{_cell(c)}: which layers account for the change** (per-layer profiles of A and B)", "",
                      "| layer | A ms | B ms | delta ms | share of the change |", "|---|---|---|---|---|"]
            lines += [f"| {r['layer']} | {num(r['a_ms'])} | {num(r['b_ms'])} | {r['delta_ms']:+.3f} | "
                      f"{num(r['share'] and 100 * r['share'], '.0f')}% |" for r in c.layers]
    if unmatched:
        lines += ["", "Not compared:", ""] + [f"- {u}" for u in unmatched]
    return "\n".join(lines) + "\n"


def text(comparisons: list[Comparison], unmatched: list[str], header: dict) -> str:
    lines = [f"{header['what']}; {header['how']}; threshold {100 * header['threshold']:g}%"]
    for c in comparisons:
        lines.append(f"{c.verdict:<12} {_cell(c)}: A {_value(c, c.a_value)}, B {_value(c, c.b_value)}, "
                     f"B/A {_ratio(c)}, p={num(c.p_value, '.2g')}")
        lines += [f"    {r['layer']}: {r['delta_ms']:+.3f} ms ({num(r['share'] and 100 * r['share'], '.0f')}% of "
                  "the change)" for r in c.layers]
    lines += [f"not compared: {u}" for u in unmatched]
    return "\n".join(lines) + "\n"


def as_json(comparisons: list[Comparison], unmatched: list[str], header: dict) -> str:
    return dumps({"schema": SCHEMA, **header, "comparisons": [c.to_json() for c in comparisons],
                  "unmatched": unmatched}) + "\n"


RENDERERS = {"md": markdown, "json": as_json, "text": text}
