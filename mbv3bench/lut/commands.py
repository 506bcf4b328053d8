"""`mbv3bench lut ...`: latency lookup tables of search spaces, their predictions, and how wrong
those are on the user's own device (see README, NAS lookup tables)."""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from ..core.errors import UserError
from ..core.registry import PRECISIONS, PROTOCOL, RUNTIMES
from ..options import (FARM_OPTION, PHONE_OPTIONS, db_option, each_profile, farm_profiles, measure_options,
                       measuring_options, open_target, target_inputs, target_options)

ROUNDS = 3   # end-to-end measurements of a network, the fastest kept (measuring.py says why)
# ~100 blocks of well under a millisecond each: a shorter protocol than a network's, so a table
# of one resolution builds in minutes (README: NAS lookup tables, measured here)
# a table keeps each block's p10 (measuring.py says why)
LUT_PROTOCOL = replace(PROTOCOL, runs=20, min_secs=0.2, warmup_runs=5, warmup_secs=0.1, profile_runs=10, processes=2,
                       statistic="p10")
DB = db_option("The results store (an SQLite file or a PostgreSQL URL): every block and network measured goes in.")
EXPORT_JOBS = click.option("--export-jobs", type=click.IntRange(min=1),
                           help="Models exported at once, in fresh processes, before anything is measured "
                                "(default: the cores this process may use).")
LUT = click.option("--lut", "lut_path", required=True, type=click.Path(dir_okay=False), help="A table from `lut build`.")


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{what} {text!r}: expected comma-separated integers, e.g. 160,192") from None
    if not values or min(values) < 32:
        raise UserError(f"{what} {text!r}: expected resolutions >= 32")
    return values


def _progress(title: str, total: int, exports: int = 0):
    """A progress display with an ETA, and its callbacks: run_grid's events, and (with exports)
    one call per artifact exported ahead of the measurements."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from ..ui import console

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=console(stderr=True), transient=True)
    exported = progress.add_task("exporting", total=exports) if exports else None
    task = progress.add_task(title, total=total)

    def on_event(kind, cell, result):
        what = {"exported": "exported", "measure": "measuring", "skipped": "in store:", "done": "measured",
                "error": "failed"}[kind]
        progress.update(task, description=f"{what} {cell.variant}")
        if kind == "measure" and progress.tasks[task].finished:   # a retry of a noisy one: the total grows
            progress.update(task, total=progress.tasks[task].total + 1)
        if result is not None:
            progress.advance(task)

    def on_exported(variant):
        progress.update(exported, description=f"exported {variant}")
        progress.advance(exported)

    lines: list = []

    def on_progress(activity):
        """A farm's devices, a line each under the bars."""
        from ..progress import farm_lines
        from ..targets.farm import FarmActivity

        if isinstance(activity, FarmActivity):
            for i, text in enumerate(farm_lines(activity)):
                if i == len(lines):
                    lines.append(progress.add_task("", total=None, start=False))
                progress.update(lines[i], description=text)
    return progress, on_event, on_exported, on_progress


def _jobs(export_jobs: int | None) -> int:
    import os

    return export_jobs or len(os.sched_getaffinity(0))


def _measured(title: str, variants: list[str], how, store, *, resume: bool, doc: dict, rounds: int,
              export_jobs: int | None):
    """End-to-end measurements as the table's blocks were measured (statistic, retries), each
    network the fastest of `rounds`, with a progress bar; Ctrl-C keeps what finished (it is stored)."""
    from .measuring import measure_settled

    progress, on_event, on_exported, on_progress = _progress(title, len(variants) * rounds, exports=len(variants))
    try:
        with progress:
            return measure_settled(variants, how, store, resume=resume, statistic=doc["statistic"],
                                   retries=doc.get("retries", 0), rounds=rounds, export_jobs=_jobs(export_jobs),
                                   on_exported=on_exported, on_event=on_event, on_progress=on_progress)
    except KeyboardInterrupt:
        click.echo(f"interrupted: finished measurements are stored in {store.address}; run again with --resume", err=True)
        sys.exit(130)


@click.group()
def lut():
    """NAS latency lookup tables: measure every distinct block of a search space once, predict
    any architecture as their sum, and measure how wrong that is here (validate)."""


@lut.command("sample")
@click.option("--space", required=True, help="A search space in models/, e.g. ofa_mobilenet_v3.")
@click.option("-n", "count", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--res", help="Comma-separated resolutions to draw from (default: the space's).")
def sample_command(space, count, seed, res):
    """Print N random architectures of SPACE (the same ones for the same seed)."""
    from .blocks import sample

    click.echo("\n".join(sample(space, count, seed, _ints(res, "--res") if res else None)))


@lut.command("build")
@click.option("--space", required=True, help="A search space in models/, e.g. ofa_mobilenet_v3.")
@click.option("--res", "resolutions", required=True, help="Comma-separated resolutions, e.g. 160 or 160,192,224.")
@click.option("--runtime", default="litert", show_default=True, help=" | ".join(RUNTIMES))
@click.option("--precision", default="fp32", show_default=True, help=" | ".join(PRECISIONS))
@click.option("--device", default="local", show_default=True,
              help="A profile in devices/ (or --devices-dir); with --farm, several (P1,P2): a table of each, "
                   "OUTPUT.P1.json ...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The table (JSON).")
@click.option("--resume", is_flag=True, help="Take the blocks the store has for the same settings from it.")
@click.option("--fit", "fit_n", default=0, show_default=True, type=click.IntRange(min=0),
              help="Then measure this many random architectures end to end and store a correction fitted on them.")
@click.option("--fit-seed", default=1, show_default=True, type=int)
@click.option("--fit-kind", default="affine", show_default=True, type=click.Choice(("affine", "parts")))
@click.option("--retries", default=1, show_default=True, type=click.IntRange(min=0),
              help="Measure a block whose processes disagree again, up to this many times, keeping the faster "
                   "attempt.")
@EXPORT_JOBS
@DB
@measuring_options(defaults=LUT_PROTOCOL)
def build_command(space, resolutions, runtime, precision, device, output, resume, fit_n, fit_seed, fit_kind,
                  retries, export_jobs, db, **kw):
    """Measure every distinct block of SPACE at the resolutions (each exported as its own model),
    into the results store and the table OUTPUT."""
    import time

    from ..core.output import check_folder, check_not_input, check_output
    from ..core.registry import device_runtimes
    from ..export.artifacts import artifact_dir
    from ..runner import NotStored
    from ..store import Store
    from ..targets.profiles import load_device
    from ..zoo.spec import spec_path
    from . import table
    from .measuring import Measuring

    profiles = farm_profiles(device, kw.get("farm"))
    if profiles:
        return each_profile(build_command, profiles, {"output": "-o"})
    device_runtimes(load_device(device)["kind"], device, [runtime])
    res = _ints(resolutions, "--res")
    read = {f"the spec of {space}": spec_path(space), **target_inputs(device, kw)}
    check_not_input("--db", db.file, read)
    check_output("-o", output, inputs={"--db": db.file, **read})
    check_folder("the artifact cache", artifact_dir())
    blocks = table.plan(space, res)
    stages = sum(1 for key, *_ in blocks if key[2] is not None)
    click.echo(f"{space} at res {', '.join(map(str, res))}: {len(blocks)} distinct blocks "
               f"({stages} of the stages, {len(blocks) - stages} fixed layers)", err=True)
    # a block is one layer: its per-layer profile says nothing more
    options = measure_options(kw, device, per_layer=False, runtimes=[runtime])
    started = time.time()
    with Store(db) as store:
        how = Measuring(open_target(options.target), runtime, precision, options.protocol, options.settings)
        progress, on_event, on_exported, on_progress = _progress("blocks", len(blocks), exports=len(blocks))
        try:
            with progress:
                doc = table.build(space, res, how, store, resume=resume, retries=retries,
                                  export_jobs=_jobs(export_jobs), on_exported=on_exported, on_event=on_event,
                                  on_progress=on_progress)
        except KeyboardInterrupt:
            click.echo(f"interrupted: finished blocks are stored in {db}; run again with --resume", err=True)
            sys.exit(130)
        except NotStored as e:   # full, locked...: the blocks of earlier groups are stored, the table is not written
            click.echo(f"error: {e}; the blocks stored before it stay in {db}: run again with --resume", err=True)
            sys.exit(3)
        if fit_n:
            doc["correction"] = _fit(doc, fit_n, fit_seed, fit_kind, how, store, resume=resume, rounds=ROUNDS,
                                     export_jobs=export_jobs)
    table.save(output, doc, "-o")
    b = doc["build"]
    click.echo(f"wrote {output}: {len(doc['blocks'])} blocks ({b['measured']} measured, {b['from_store']} from the "
               f"store) in {time.time() - started:.0f} s on {doc['device'].get('name')}, {runtime} ({doc['format']})")
    if doc.get("devices"):
        d = doc["devices"]
        click.echo(f"{len(d['speeds'])} devices, each block corrected by its device's speed on {d['reference_block']} "
                   f"(relative to the first): " + ", ".join(f"{s['device']} {s['speed']:.3f}" for s in d["speeds"])
                   + f"; spread {d['spread_pct']:.1f}%")


def _fit(doc, n, seed, kind, how, store, *, resume, rounds, export_jobs) -> dict:
    from .blocks import sample
    from .fit import fit
    from .measuring import failed_line
    from .table import how_of

    archs = sample(doc["space"], n, seed, doc["resolutions"])
    results = _measured("fitting on", archs, how_of(doc, how.target), store, resume=resume, doc=doc, rounds=rounds,
                        export_jobs=export_jobs)
    if failed_line(results):
        click.echo(f"warning: {failed_line(results)}; fitted on the others", err=True)
    correction = fit(doc, results, kind, seed=seed)
    before, after = correction["in_sample"]["before"], correction["in_sample"]["after"]
    click.echo(f"correction ({kind}) fitted on {correction['fitted_on']['n']} architectures: "
               f"intercept {correction['intercept_ms']:.3f} ms, scale {correction['scale']:.3f}; "
               f"MAPE {before['mape_pct']:.1f}% -> {after['mape_pct']:.1f}% (in sample)", err=True)
    return correction


def _lut_target(doc: dict, device: str | None, kw: dict):
    """The table's device again (its core, unless --core says otherwise)."""
    core = doc["device"].get("core") if doc["device"].get("kind") == "local" else None
    return open_target(target_options(kw, device or doc["device"]["name"], core))


def _measuring_options(f):
    for opt in reversed([
        click.option("--device", help="Where to measure (default: the table's device); with --farm, several "
                                      "(P1,P2): each profile's own table, LUT.P1.json ..."),
        click.option("--core", type=int, help="Core to pin (default: the table's)."),
        DB,
        click.option("--resume", is_flag=True, help="Take what the store has for the same settings from it."),
        click.option("--rounds", default=ROUNDS, show_default=True, type=click.IntRange(min=1),
                     help="Measure every network this many times, at different times in fresh processes, and "
                          "keep the fastest (a network's speed can flip between processes here)."),
        EXPORT_JOBS,
        *PHONE_OPTIONS,
        FARM_OPTION,
    ]):
        f = opt(f)
    return f


@lut.command("fit")
@LUT
@click.option("-n", "count", default=6, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--kind", default="affine", show_default=True, type=click.Choice(("affine", "parts")))
@_measuring_options
def fit_command(lut_path, count, seed, kind, device, db, resume, rounds, export_jobs, **kw):
    """Measure N random architectures end to end (the table's settings) and store in the table a
    correction fitted on them."""
    from ..core.output import check_not_input, check_output
    from ..store import Store
    from . import table

    profiles = farm_profiles(device, kw.get("farm"))
    if profiles:   # each profile's table (T.P1.json ...) gets its own correction
        return each_profile(fit_command, profiles, {"lut_path": "--lut"}, {"lut_path": "--lut"})
    read = target_inputs(device, kw)
    check_not_input("--db", db.file, read)
    check_output("--lut", lut_path, inputs={"--db": db.file, **read})   # the table is written back in place
    doc = table.load(lut_path)
    with Store(db) as store:
        how = table.how_of(doc, _lut_target(doc, device, kw))
        doc["correction"] = _fit(doc, count, seed, kind, how, store, resume=resume, rounds=rounds,
                                 export_jobs=export_jobs)
    table.save(lut_path, doc, "--lut")
    click.echo(f"wrote the correction into {lut_path}")


@lut.command("validate")
@LUT
@click.option("-n", "count", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--reference", help="An architecture measured with them: report latencies as ratios to its "
                                  "(the host's drift since the table was built cancels).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Predicted vs measured scatter plot (PNG; default: beside the table).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_measuring_options
def validate_command(lut_path, count, seed, reference, plot_path, as_json, device, db, resume, rounds, export_jobs,
                     **kw):
    """Measure N random architectures end to end (the table's settings) and report how far the
    table's predictions are: RMSE, MAPE, share within 5% and 10%, Kendall tau, the parts that add
    most error, and a scatter plot."""
    from ..core.output import check_not_input, check_output, dumps
    from ..store import Store
    from ..zoo.spec import parse_variant
    from . import table
    from .blocks import sample
    from .predict import Predictor
    from .validate import plot, report

    profiles = farm_profiles(device, kw.get("farm"))
    if profiles:   # each profile's table (T.P1.json ...) against its own devices
        return each_profile(validate_command, profiles, {"plot_path": "--plot"}, {"lut_path": "--lut"},
                            one_document="--json" if as_json else None)
    plot_path = Path(plot_path or Path(lut_path).with_suffix("").as_posix() + f"-validate-{seed}.png")
    read = {"--lut": lut_path, **target_inputs(device, kw)}
    check_not_input("--db", db.file, read)
    check_output("--plot", plot_path, inputs={"--db": db.file, **read})
    doc = table.load(lut_path)
    archs = sample(doc["space"], count, seed, doc["resolutions"])
    ref = str(parse_variant(reference)) if reference else None
    if ref:
        Predictor(doc).predict(ref)   # a reference the table cannot predict fails before measuring
    with Store(db) as store:
        how = table.how_of(doc, _lut_target(doc, device, kw))
        results = _measured("validating", ([ref] if ref else []) + archs, how, store, resume=resume, doc=doc,
                            rounds=rounds, export_jobs=export_jobs)
    rep = report(doc, results[1:] if ref else results, results[0] if ref else None, rounds)
    plot(rep, plot_path)
    rep["plot"] = str(plot_path)
    if as_json:
        return click.echo(dumps(rep))
    from .render import validation_text

    click.echo(validation_text(rep))


@lut.command("predict")
@click.argument("what")
@LUT
@click.option("--runtime", help="Refuse a table measured on another runtime.")
@click.option("--reference", help="Also give each prediction as a ratio to this architecture's.")
@click.option("--raw", is_flag=True, help="The plain sum of blocks, without the table's correction.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON (for a file: one document, written a prediction a line as it comes).")
def predict_command(what, lut_path, runtime, reference, raw, as_json):
    """Predicted latency of WHAT: an architecture's variant ID, or a file of IDs (one a line),
    predicted and printed line by line."""
    from ..core.output import dumps
    from . import table
    from .batch import id_file, predict_file
    from .predict import Predictor
    from .render import prediction_doc, prediction_text

    doc = table.load(lut_path)
    if runtime and runtime != doc["runtime"]:
        raise UserError(f"{lut_path} was measured on {doc['runtime']}, not {runtime}: build a table with "
                        f"--runtime {runtime}")
    predictor = Predictor(doc, corrected=not raw)
    ref = predictor.predict(reference) if reference else None
    path = id_file(what)
    if path is None:
        d = prediction_doc(predictor.predict(what), ref, predictor.breakdown(what))
        return click.echo(dumps(d) if as_json else prediction_text(d, doc))
    try:
        predict_file(path, predictor, ref, lut_path, as_json, lambda text: click.echo(text, nl=False))
    except BrokenPipeError:   # the reader stopped (`| head`): stop too, quietly, as a tool killed by SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)


@lut.command("export")
@click.argument("lut_path", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", required=True, type=click.Choice(("ofa", "csv")),
              help="ofa: Once-for-All's LatencyTable YAML (key -> {mean, std, count}); csv: one row a block.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def export_command(lut_path, fmt, output):
    """Write the table LUT_PATH in another tool's format."""
    from ..core.output import check_output, write_atomic
    from . import table

    check_output("-o", output, inputs={"LUT_PATH": lut_path})
    doc = table.load(lut_path)
    write_atomic(output, table.ofa_yaml(doc) if fmt == "ofa" else table.csv_table(doc), "-o")
    click.echo(f"wrote {output}: {len(doc['blocks'])} blocks as {fmt}")
