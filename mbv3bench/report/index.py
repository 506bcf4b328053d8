"""A report folder: every table (md) and figure the store can fill, with an index.md saying what
is missing. The first runtime gets every table and figure; each further runtime its tables, as
table<N>-<runtime>.md (the figures compare networks on one runtime)."""
from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError
from ..core.output import write_atomic
from ..core.registry import FIGURE_FILES
from .plots import draw
from .tables import TABLES, build, render


def table_file(number: int, runtime: str, runtimes: list[str]) -> str:
    return f"table{number}.md" if runtime == runtimes[0] else f"table{number}-{runtime}.md"


def report_files(runtimes: list[str]) -> list[str]:
    """Every file a report of these runtimes may write into its folder."""
    return ([table_file(n, rt, runtimes) for rt in runtimes for n in TABLES]
            + [f"{stem}.png" for stem in FIGURE_FILES.values()] + ["index.md"])


def write_report(out: Path, store, accuracy, paper, *, device: str, runtimes: list[str], db: str, statistic: str,
                 context) -> tuple[list, list, dict]:
    """Writes the folder (checked by the caller); returns (made, skipped, docs): what was written with
    how full it is, what could not be and why, and each (table, runtime)'s document. `context(figure)`
    gives a figure's plots.Context."""
    made, skipped, docs = [], [], {}
    for runtime in runtimes:
        for n in TABLES:
            what = f"Table {n}" + ("" if runtime == runtimes[0] else f" ({runtime})")
            try:
                doc = build(n, store, [device], runtime, accuracy, paper, statistic)
            except UserError as e:
                skipped.append((what, str(e)))
                continue
            docs[n, runtime] = doc
            name = table_file(n, runtime, runtimes)
            write_atomic(out / name, render(doc, "md"), "-o")
            unmeasured = sum(r["measured"][device] is None for r in doc["rows"])
            made.append((what, name, f"{len(doc['rows']) - unmeasured} of {len(doc['rows'])} rows measured"))
    for figure, stem in FIGURE_FILES.items():
        try:
            draw(figure, out / f"{stem}.png", context(figure), runtimes=[runtimes[0]] if figure != "layers" else None)
        except UserError as e:
            skipped.append((f"Figure {figure}", str(e)))
            continue
        made.append((f"Figure {figure}", f"{stem}.png", ""))
    also = f" (tables also {', '.join(runtimes[1:])})" if runtimes[1:] else ""
    lines = [f"# mbv3bench report: {device}, {runtimes[0]}{also}", "", f"From {db}.", "", "## Contents", ""]
    lines += [f"- [{what}]({path})" + (f": {info}" if info else "") for what, path, info in made]
    lines += ["", "## Not drawn", ""] + ([f"- {what}: {why}" for what, why in skipped] or ["- nothing: every "
                                                                                        "table and figure has data"])
    write_atomic(out / "index.md", "\n".join(lines) + "\n", "-o")
    return made, skipped, docs
