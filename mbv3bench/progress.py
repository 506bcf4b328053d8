"""The live display of a run: which cell is being exported, and for the group being measured in
rounds, each cell's statistic and interval so far, each ratio, and when it should be done."""
from __future__ import annotations

import time

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
        if a.progress and not a.out:
            doing += f" ({where_it_stands(a.progress)})"
        lines.append(f"  {a.device.label} ({a.device.host}): {doing}; {a.done} group(s) done")
    return lines


def where_it_stands(progress: dict) -> str:
    """A farm device's group as it said it stands (targets/farm_device.py: device_progress)."""
    if progress["phase"] != "timing":
        return f"{progress['phase']}, {progress['elapsed_s']:.0f} s"
    eta = f", about {progress['eta_s']:.0f} s left" if progress.get("eta_s") is not None else ""
    return f"{progress['unit']} done: {progress['done']}, {progress['elapsed_s']:.0f} s{eta}"


def _ci(est) -> tuple[str, str, str]:
    if est is None:
        return "-", "-", "-"
    lo, hi = est.ci95
    return (f"{est.value:.4g}", f"{lo:.4g}-{hi:.4g}" if lo is not None else "n/a",
            f"+-{est.half_pct:.1f}%" if est.half_pct is not None else "n/a")


class RunDisplay:
    """on_event and on_progress of runner.run_grid, drawn with rich.live: the exports, then each
    group measured, and an ETA of the whole job (exports at the rate seen so far; groups still to
    come at the seconds per cell of the groups finished, before the first one a guess from the
    protocol)."""

    def __init__(self, console, cells: list, protocol, clock=time.monotonic):
        self.total, self.done, self.line, self.snapshot = len(cells), [], "starting", None
        self.exports = sum(1 for c in cells if c.format != "torch")   # torch builds its module in the worker
        self.protocol, self.clock = protocol, clock
        self.start = clock()
        self.exported, self.started = 0, 0          # cells whose file is ready; cells whose group began
        self.group_start, self.group_size = None, 0
        self.measured_s, self.measured_cells = 0.0, 0   # of the groups finished
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=True)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        return self.live.__exit__(*exc)

    def on_event(self, kind, cell, result) -> None:
        what = {"exported": "exported", "measure": "measuring", "skipped": "in store:", "done": "measured",
                "error": "failed"}[kind]
        self.line = f"{what} {cell.variant} on {cell.runtime} ({cell.format})"
        if kind == "exported":
            self.exported += 1
        elif kind == "skipped":
            self.started += 1
        elif kind == "measure":
            self._group_begins()
            self.started += 1
            self.group_size += 1
        if result is not None:
            self.done.append(result)
        if kind in ("exported", "skipped"):
            self.snapshot = None
        self.live.update(self._render())

    def _group_begins(self) -> None:
        """A "measure" event after the last group's cells were all done opens the next group."""
        if self.group_start is not None and len(self.done) < self.started:
            return
        now = self.clock()
        if self.group_start is not None:
            self.measured_s += now - self.group_start
            self.measured_cells += self.group_size
        self.group_start, self.group_size = now, 0

    def on_progress(self, snapshot: Snapshot | FarmActivity) -> None:
        self.snapshot = snapshot
        self.live.update(self._render())

    def group_guess_s(self) -> float:
        """One group before any has finished: its processes (start-up ~2 s each, warm-up, timed
        rounds) and the profiled one."""
        p = self.protocol
        return (p.processes + (1 if p.profile_runs else 0)) * (2.0 + p.warmup_secs + p.min_secs)

    def eta_s(self) -> float | None:
        """Seconds the whole job still needs, or None before anything is known to pace it by."""
        now = self.clock()
        exports_left = self.exports - self.exported
        if exports_left and not self.exported:
            return None
        left = (now - self.start) / self.exported * exports_left if exports_left else 0.0
        if isinstance(self.snapshot, FarmActivity):   # its devices measure groups side by side: its own ETA
            return None if self.snapshot.eta_s is None else left + self.snapshot.eta_s
        per_cell = self.measured_s / self.measured_cells if self.measured_cells else None
        if self.group_start is not None and len(self.done) < self.started:   # a group under way
            s = self.snapshot
            guess = per_cell * self.group_size if per_cell else self.group_guess_s()
            current = s.eta_s if s is not None and s.eta_s is not None else guess - (now - self.group_start)
            left += max(0.0, current)
        waiting = self.total - self.started
        left += waiting * per_cell if per_cell else -(-waiting // 10) * self.group_guess_s()
        return left

    def _render(self):
        eta = self.eta_s()
        whole = (f"; the whole job: {self.clock() - self.start:.0f} s so far, "
                 + (f"about {eta:.0f} s to go" if eta is not None else "its pace known after the first export"))
        exports = f"{self.exported}/{self.exports} exported, " if self.exported < self.exports else ""
        head = Text(f"[{exports}{len(self.done)}/{self.total} cells measured{whole}] {self.line}")
        s = self.snapshot
        if s is None:
            return head
        if isinstance(s, FarmActivity):
            return Group(head, *map(Text, farm_lines(s)))
        eta = f", about {s.eta_s:.0f} s to go" if s.eta_s is not None else ""
        target = (f"every 95% interval within +-{s.target_pct:g}%" if s.target_pct else
                  f"{self.protocol.processes} processes")
        title = (f"{s.phase} {len(s.labels)} cell(s) together: {s.processes} process(es) done, {s.elapsed_s:.0f} s{eta}; "
                 f"target: {target}")
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
