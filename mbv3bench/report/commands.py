"""`mbv3bench table | plot | report`: click commands over report/. Only click and the standard
library load with this module; the store, matplotlib and the runtimes load inside the commands."""
from __future__ import annotations

import contextlib
from pathlib import Path

import click

from ..core.errors import UserError
from ..core.output import check_folder, check_not_input, check_output, write_atomic
from ..core.registry import FIGURE_FILES, PROTOCOL, RUNTIMES, check_runtime
from ..options import db_option, measure_options, measuring_options, statistic_option

TABLE_NUMBERS = ("3", "4", "5", "6", "7")
ACCURACY_HELP = "A CSV (variant,precision,top1[,source]) adding or overriding published top-1 values."
STATISTIC = statistic_option(PROTOCOL.statistic, "What each cell shows, of its block medians: every stored "
                             "measurement is read by it (from its blocks), and --measure measures by it.")


def _echo_err(text: str) -> None:
    click.echo(text, err=True)


@contextlib.contextmanager
def _session(db: str, accuracy_file: str | None, *, writes: bool = False):
    """The store and the reference data every report command reads. The store is opened read-only
    unless the command measures (--measure, a roofline's first calibration)."""
    from ..store import Store
    from .accuracy import load_accuracy, load_paper_latency

    accuracy, paper = load_accuracy(accuracy_file), load_paper_latency()
    with Store(db, readonly=not writes) as store:
        yield store, accuracy, paper


@click.command()
@click.option("--paper-table", "number", type=click.Choice(TABLE_NUMBERS), required=True,
              help="3: float, 4: int8 (litert only), 5: non-linearities, 6: SSDLite detection, "
                   "7: LR-ASPP/R-ASPP segmentation.")
@click.option("--device", "devices", multiple=True, default=("local",), show_default=True,
              help="Device whose measurements fill the table; repeat for several.")
@click.option("--runtime", default="litert", show_default=True, help=" | ".join(RUNTIMES) + " (litert: the paper's TFLite).")
@click.option("--format", "fmt", type=click.Choice(("md", "csv", "tex", "json")), default="md", show_default=True)
@db_option()
@click.option("--accuracy", "accuracy_file", type=click.Path(dir_okay=False), help=ACCURACY_HELP)
@click.option("--measure", is_flag=True, help="First measure the rows the store lacks (on each --device).")
@STATISTIC
@measuring_options(statistic=False)
def table(number, devices, runtime, fmt, db, accuracy_file, measure, statistic, **kw):
    """The paper's Table 3, 4, 5, 6 or 7 with measured latency beside the published numbers."""
    from .measured import measure_missing
    from .tables import TABLES, build, render

    runtime = check_runtime(runtime)
    with _session(db, accuracy_file, writes=measure) as (store, accuracy, paper):
        if measure:
            for d in devices:
                measure_missing(store, measure_options(kw, d, statistic=statistic), runtime,
                                TABLES[int(number)].needs(runtime), _echo_err)
        doc = build(int(number), store, list(devices), runtime, accuracy, paper, statistic)
    click.echo(render(doc, fmt), nl=False)


def _local_core(device: str) -> int | None:
    """The core a local calibration pins to (the local profile's); None for a phone."""
    if device != "local":
        return None
    from ..targets import TargetOptions, open_target

    return open_target(TargetOptions("local")).core


def figure_context(store, accuracy, paper, device, runtime, figure, recalibrate, statistic):
    from ..measure.calibrate import peaks
    from .plots import Context

    calibration = peaks(store, device, _local_core(device), recalibrate=recalibrate) if figure == "roofline" else None
    return Context(store, device, runtime, accuracy, paper, calibration, statistic)


@click.command()
@click.option("--figure", type=click.Choice(FIGURE_FILES), required=True,
              help="1, 2, 7, 8, 9 (the paper's), layers (per-layer bars), roofline.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Where to write; .svg for SVG, else PNG (default reports/<figure>.png).")
@click.option("--device", default="local", show_default=True)
@click.option("--runtime", help="One runtime (default litert); for --figure layers a comma-separated list "
                                "(default: every runtime measured).")
@db_option()
@click.option("--accuracy", "accuracy_file", type=click.Path(dir_okay=False), help=ACCURACY_HELP)
@click.option("--measure", is_flag=True, help="First measure what the figure lacks.")
@click.option("--models", help="Comma-separated variants for layers and roofline "
                               "(default mobilenet_v3_large,mobilenet_v3_small).")
@click.option("--recalibrate", is_flag=True, help="roofline: measure the core's peaks again.")
@STATISTIC
@measuring_options(statistic=False)
def plot(figure, output, device, runtime, db, accuracy_file, measure, models, recalibrate, statistic, **kw):
    """Draw one of the paper's figures (or per-layer bars, or a roofline) from the store."""
    from ..zoo.spec import split_variant_list
    from .measured import measure_missing
    from .plots import draw, needs

    runtimes = [check_runtime(r.strip()) for r in (runtime or "litert").split(",") if r.strip()]
    if len(runtimes) != 1 and figure != "layers":
        raise UserError(f"--runtime takes one runtime for figure {figure}; several only for --figure layers")
    model_list = split_variant_list(models) if models else None
    out = Path(output or f"reports/{FIGURE_FILES[figure]}.png")
    check_output("-o", out, inputs={"--db": db.file, "--accuracy": accuracy_file}, create_folder=output is None)
    check_not_input("--db", db.file, {"--accuracy": accuracy_file})
    with _session(db, accuracy_file, writes=measure or figure == "roofline") as (store, accuracy, paper):
        if measure:
            for rt in runtimes:
                measure_missing(store, measure_options(kw, device, statistic=statistic), rt, needs(figure, model_list),
                                _echo_err)
        ctx = figure_context(store, accuracy, paper, device, runtimes[0], figure, recalibrate, statistic)
        path = draw(figure, out, ctx, model_list, runtimes if runtime else None)
    click.echo(f"wrote {path}")


@click.command()
@click.option("--device", default="local", show_default=True)
@click.option("--runtime", default="litert", show_default=True,
              help="Comma-separated: the first gets every table and figure, each further one its tables "
                   "(table<N>-<runtime>.md).")
@click.option("-o", "--out-dir", default="reports/latest", show_default=True, type=click.Path(file_okay=False))
@db_option()
@click.option("--accuracy", "accuracy_file", type=click.Path(dir_okay=False), help=ACCURACY_HELP)
@click.option("--measure", is_flag=True, help="First measure what the tables and figures lack.")
@STATISTIC
@measuring_options(statistic=False)
def report(device, runtime, out_dir, db, accuracy_file, measure, statistic, **kw):
    """Every table (md) and every figure that has data, with an index.md saying what is missing."""
    from ..core.registry import format_of
    from .index import write_report
    from .measured import measure_missing
    from .plots import needs
    from .tables import TABLES

    runtimes = list(dict.fromkeys(check_runtime(r.strip()) for r in runtime.split(",") if r.strip()))
    if not runtimes:
        raise UserError("--runtime names no runtime; allowed: a comma-separated list of litert, onnxruntime, ...")
    out = Path(out_dir)
    check_report_folder(out, runtimes, {"--db": db.file, "--accuracy": accuracy_file})
    with _session(db, accuracy_file, writes=measure) as (store, accuracy, paper):
        if measure:   # what each runtime has a format for: a table it cannot fill is skipped below
            for i, rt in enumerate(runtimes):
                wanted = [c for t in TABLES.values() for c in t.needs(rt)]
                wanted += [c for f in FIGURE_FILES for c in needs(f)] if i == 0 else []
                measure_missing(store, measure_options(kw, device, statistic=statistic), rt,
                                [c for c in wanted if format_of(rt, c[1])], _echo_err)
        made, skipped, _ = write_report(
            out, store, accuracy, paper, device=device, runtimes=runtimes, db=db, statistic=statistic,
            context=lambda figure: figure_context(store, accuracy, paper, device, runtimes[0], figure, False, statistic))
    click.echo(f"wrote {len(made)} table(s)/figure(s) to {out}; {len(skipped)} could not be drawn (see index.md)")


def check_report_folder(out: Path, runtimes: list[str], inputs: dict) -> None:
    """The report's folder and every file it may write, checked before anything is read or measured."""
    from .index import report_files

    check_folder("-o", out)
    check_output("-o", *(out / name for name in report_files(runtimes)), inputs=inputs)
