"""One cell's results over time and git revisions (`mbv3bench history`): every successful
measurement of a variant, by cell (runtime, format, device, threads), oldest first, each with the
statistic it is headlined by and that statistic's 95% interval; listed or plotted."""
from __future__ import annotations

import datetime
from pathlib import Path

from ..store import Store


def _when(t: float | None) -> str | None:
    return datetime.datetime.fromtimestamp(t).isoformat(timespec="seconds") if t is not None else None


def history_rows(store: Store, variant: str, device: str | None, runtime: str | None) -> list[dict]:
    rows = []
    for r, run in store.history(variant, device=device, runtime=runtime):
        value, stat = r.headline()
        lo, hi = r.latency.ci95
        rows.append({"id": r.id, "created_at": _when(r.created_at), "git_rev": run.get("git_rev"),
                     "host": run.get("host"), "variant": r.variant, "runtime": r.runtime, "format": r.format,
                     "device": r.device, "threads": r.threads, "statistic": stat, "value_ms": value,
                     "ci95_ms": [lo, hi], "n": r.n, "noisy": r.noisy})
    return rows


def cell_of(row: dict) -> str:
    return f"{row['runtime']} ({row['format']}) on {row['device']}, {row['threads']} thread(s)"


def draw_history(rows: list[dict], out: Path, variant: str) -> Path:
    """Each cell a line over time, its intervals as error bars, each point labelled by its git revision."""
    from .plots import _new_figure, _save

    fig = _new_figure((10, 5))
    ax = fig.add_subplot()
    for cell in dict.fromkeys(map(cell_of, rows)):
        mine = [r for r in rows if cell_of(r) == cell and r["value_ms"] is not None]
        if not mine:
            continue
        x = [datetime.datetime.fromisoformat(r["created_at"]) for r in mine]
        y = [r["value_ms"] for r in mine]
        err = [[v - (r["ci95_ms"][0] if r["ci95_ms"][0] is not None else v) for v, r in zip(y, mine)],
               [(r["ci95_ms"][1] if r["ci95_ms"][1] is not None else v) - v for v, r in zip(y, mine)]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{cell} ({mine[0]['statistic']})")
        for xi, yi, r in zip(x, y, mine):
            ax.annotate((r["git_rev"] or "no rev")[:7], (xi, yi), textcoords="offset points", xytext=(0, 6),
                        fontsize=6, ha="center")
    ax.set_title(f"{variant}: latency over time (95% intervals; labels: git revision)")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return _save(fig, out)
