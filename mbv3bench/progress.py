"""The live display of a run: which cell is being exported, and for the group being measured in
rounds, each cell's statistic and interval so far, each ratio, and when it should be done."""
from __future__ import annotations

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .measure.adaptive import Snapshot
from .targets.farm import FarmActivity


def farm_lines(activity: FarmActivity) -> list[str]:
    """A farm's progress: how much is left, and one line per device."""
    eta = f", about {activity.eta_s:.0f} s to go" if activity.eta_s is not None else ""
    lines = [f"farm: {activity.remaining} group(s) left on {sum(1 for a in activity.devices if a.out is None)} "
             f"device(s){eta}"]
    for a in activity.devices:
        doing = f"out: {a.out}" if a.out else f"measuring {a.doing}" if a.doing else "idle"
        lines.append(f"  {a.device.label} ({a.device.host}): {doing}; {a.done} group(s) done")
    return lines


def _ci(est) -> tuple[str, str, str]:
    if est is None:
        return "-", "-", "-"
    lo, hi = est.ci95
    return (f"{est.value:.4g}", f"{lo:.4g}-{hi:.4g}" if lo is not None else "n/a",
            f"+-{est.half_pct:.1f}%" if est.half_pct is not None else "n/a")


class RunDisplay:
    """on_event and on_progress of runner.run_grid, drawn with rich.live."""

    def __init__(self, console, total: int):
        self.total, self.done, self.line, self.snapshot = total, [], "starting", None
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=True)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        return self.live.__exit__(*exc)

    def on_event(self, kind, cell, result) -> None:
        what = {"export": "exporting", "measure": "measuring", "skipped": "in store:", "done": "measured",
                "error": "failed"}[kind]
        self.line = f"{what} {cell.variant} on {cell.runtime} ({cell.format})"
        if result is not None:
            self.done.append(result)
        if kind in ("export", "skipped"):
            self.snapshot = None
        self.live.update(self._render())

    def on_progress(self, snapshot: Snapshot | FarmActivity) -> None:
        self.snapshot = snapshot
        self.live.update(self._render())

    def _render(self):
        head = Text(f"[{len(self.done)}/{self.total} cells] {self.line}")
        s = self.snapshot
        if s is None:
            return head
        if isinstance(s, FarmActivity):
            return Group(head, *map(Text, farm_lines(s)))
        eta = f", about {s.eta_s:.0f} s to go" if s.eta_s is not None else ""
        title = (f"{s.phase} {len(s.labels)} cell(s) together: {s.processes} process(es) done, {s.elapsed_s:.0f} s{eta}; "
                 f"target: every 95% interval within +-{s.target_pct:g}%")
        table = Table(title=title, title_justify="left")
        for col in ("cell", f"{s.statistic} ms / ratio", "95% interval", "half-width"):
            table.add_column(col, justify="left" if col == "cell" else "right")
        for name, est in zip(s.labels, s.cells):
            table.add_row(name, *_ci(est))
        # the ratios against the first cell; of the rest only the widest, which holds the stop back
        for i, j, est in s.pairs:
            if i == 0:
                table.add_row(f"{s.labels[i]} / {s.labels[j]}", *_ci(est), style="cyan")
        rest = [est for i, _, est in s.pairs if i and est is not None and est.half_pct is not None]
        if rest:
            widest = max(rest, key=lambda e: e.half_pct)
            table.add_row(f"{len(rest)} other ratio(s), the widest", *_ci(widest), style="cyan")
        return Group(head, table)
