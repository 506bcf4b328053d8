"""The command line: a thin Click layer over the modules. Heavy imports (torch, runtimes) happen
inside the commands that need them, so `mbv3bench --help` answers at once."""
from __future__ import annotations

import sys

import click

from .core.errors import DeviceLost, UserError, cut
from .core.registry import EXPORT_FORMATS, PRECISIONS, RUNTIMES
from .core.registry import DEFAULT_RUNTIMES, PAPER_JOB_PROTOCOL, PROTOCOL
from .options import measure_options as _measure_options, measuring_options as _measuring_options
from .options import db_option as _db_option, open_target as _open_target

REBUILD_HELP = "Export again even if the cache has it (also replaces a corrupted cache entry)."


class _Cli(click.Group):
    """Every bad input, ours or click's own (a bad option value, an unknown command), is one line
    `error: ...` and exit code 2, never a usage block or a traceback."""

    def main(self, *args, **kwargs):
        from .core.interrupts import signals_interrupt

        try:
            with signals_interrupt():   # SIGTERM and SIGHUP take Ctrl-C's way out
                return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.UsageError as e:
            names, ctx = [], e.ctx  # the subcommands, e.g. "mbv3bench devices add: "
            while ctx is not None and ctx.parent is not None:
                names.insert(0, ctx.info_name)
                ctx = ctx.parent
            command = f"mbv3bench {' '.join(names)}: " if names else ""
            # click quotes a bad value whole (a 5,000-digit number must not become the message) and
            # lists a missing option's choices one per line
            click.echo(f"error: {command}{cut(' '.join(e.format_message().split()), 300)} (see --help)", err=True)
            sys.exit(2)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DeviceLost as e:   # a measurement failed: what finished is stored, --resume measures the rest
            click.echo(f"error: {e}", err=True)
            sys.exit(1)
        except UserError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mbv3bench")
@click.option("--models-dir", multiple=True, type=click.Path(file_okay=False),
              help="A folder of your own model specs (NAME.yaml), searched before the shipped ones; repeatable "
                   "(also $MBV3BENCH_MODELS_DIR).")
@click.option("--devices-dir", multiple=True, type=click.Path(file_okay=False),
              help="A folder of your own device profiles (NAME.yaml), searched before the shipped ones; "
                   "repeatable (also $MBV3BENCH_DEVICES_DIR).")
def main(models_dir, devices_dir):
    """Measure MobileNetV3-family latency, layer by layer, the way the paper did.

    Variants are named NAME[:key=value,...], e.g. mobilenet_v3_large:width=0.75,res=160.
    Knobs: width, res, act (relu | hswish@N), hswish (fused | naive), se (on | off),
    minimal, reduced_tail, dilated, last_channel (fixed | scaled).
    """
    from .core.resources import use_dirs

    use_dirs(models_dir, devices_dir)


def _print_json(doc) -> None:
    from .core.output import dumps

    click.echo(dumps(doc))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(as_json: bool):
    """List the networks of the catalog (models/*.yaml) with their cost at width 1."""
    from .zoo.arch import resolve
    from .zoo.cost import summary
    from .zoo.spec import catalog, load_spec

    rows = []
    for name in catalog():
        spec, s = load_spec(name), summary(resolve(name))
        rows.append({"name": name, "title": spec.title, "resolution": spec.resolution,
                     "knobs": list(spec.knobs), "madds": s["madds"], "params": s["params"]})
    if as_json:
        return _print_json(rows)
    from rich.table import Table

    from .ui import console

    table = Table(title="mbv3bench catalog (cost at width 1, analytic)")
    for col in ("name", "title", "res", "MAdds (M)", "params (M)", "knobs"):
        table.add_column(col, justify="right" if "(M)" in col or col == "res" else "left")
    for r in rows:
        table.add_row(r["name"], r["title"], str(r["resolution"]), f"{r['madds'] / 1e6:.1f}",
                      f"{r['params'] / 1e6:.3f}", ", ".join(r["knobs"]))
    console().print(table)


def _shape(s) -> str:
    return "x".join(map(str, s))


@main.command()
@click.argument("variant")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def summary(variant: str, as_json: bool):
    """Per-layer shapes, MAdds, parameters and bytes moved of VARIANT."""
    from .zoo.arch import resolve
    from .zoo.cost import summary as cost_summary

    doc = cost_summary(resolve(variant))
    if as_json:
        return _print_json(doc)
    from rich.table import Table

    from .ui import console

    res = doc["resolution"]
    table = Table(title=f"{doc['variant']} at {res if isinstance(res, str) else f'{res}x{res}'} "
                        "(analytic: MAdds of conv/linear, bytes = float32 activations in+out + weights)")
    for col in ("layer", "op", "in", "out", "MAdds", "params", "bytes"):
        table.add_column(col, justify="right" if col in ("MAdds", "params", "bytes") else "left")
    for r in doc["layers"]:
        table.add_row(r["name"], r["op"], _shape(r["in_shape"]), _shape(r["out_shape"]), f"{r['madds']:,}",
                      f"{r['params']:,}", f"{r['bytes']:,}")
    total_bytes = sum(r["bytes"] for r in doc["layers"])
    table.add_row("total", "", "", "", f"{doc['madds']:,}", f"{doc['params']:,}", f"{total_bytes:,}", style="bold")
    console().print(table)


@main.command()
@click.argument("variant")
@click.option("--format", "fmt", default="onnx", show_default=True,
              help=" | ".join(EXPORT_FORMATS) + " (tflite-int8-fhs: int8 with h-swish kept in float).")
@click.option("-o", "--out-dir", type=click.Path(file_okay=False), help="Also copy the file here.")
@click.option("--rebuild", is_flag=True, help=REBUILD_HELP)
def export(variant: str, fmt: str, out_dir: str | None, rebuild: bool):
    """Export VARIANT, check it against torch, and cache it (a second export is a cache hit)."""
    from pathlib import Path

    from .core.output import check_folder, check_output, write_atomic
    from .export.artifacts import artifact_path, get_artifact

    if out_dir:
        check_folder("-o", out_dir)
        cached = artifact_path(variant, fmt)
        copy = Path(out_dir) / cached.name
        check_output("-o", copy, inputs={"the cached artifact": cached})
    art = get_artifact(variant, fmt, rebuild=rebuild)
    path = art.path
    if out_dir:
        write_atomic(copy, art.path.read_bytes(), "-o")
        path = copy
    check = art.check
    line = f"max abs error vs torch {check['max_abs_err']:.3g} (logits up to {check['logit_scale']:.3g})"
    if "top1_agreement" in check:
        line += f", top-1 agreement {check['top1_agreement']:.0%} on {check['inputs']} random inputs"
    click.echo(f"{'cached' if art.cached else 'exported'} {art.variant} as {fmt}: {path}")
    click.echo(f"  sha256 {art.sha256}; {line}")


def _write_each(writes) -> tuple[list[tuple[str, object]], list[str]]:
    """Every output tried on its own, so one that fails (a full disk) does not take the others with it:
    (what, path) of those written, "what: why" of the others."""
    from .core.errors import one_line

    written, unwritten = [], []
    for what, write in writes:
        try:
            written.append((what, write()))
        except (OSError, UserError) as e:
            unwritten.append(f"{what}: {one_line(e)}")
    return written, unwritten


def _read_specs(cells) -> dict:
    """The model spec files a grid reads, as inputs no output may overwrite."""
    from .zoo.spec import parse_variant, spec_path

    paths = {spec_path(parse_variant(c.variant).name) for c in cells}
    return {f"the model spec {p.stem}": p for p in paths}


def _split(values: str) -> list[str]:
    return [v.strip() for v in values.split(",") if v.strip()]




def _paper_job(kw: dict) -> None:
    """--paper: the job's grid replaces --models, --runtimes and --precision, and its protocol
    defaults stand for every protocol option not given."""
    from dataclasses import asdict

    ctx = click.get_current_context()
    given = [n for n in ("models", "runtimes", "precision") if ctx.get_parameter_source(n) != click.core.ParameterSource.DEFAULT]
    if given:
        raise UserError(f"--paper measures the paper's own grid (Tables 3 and 5, Figure 1); leave out --{given[0]}")
    for name, value in asdict(PAPER_JOB_PROTOCOL).items():
        if ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT:
            kw[name] = value


PAPER_HELP = ("The main job (`make run`): every row of Table 3 on LiteRT and ONNX Runtime, Figure 1's points with a "
              "published top-1 and Table 5 on LiteRT, then the report (--report-dir), ending with the Table 3 it "
              "filled. Protocol options not given take the job's defaults: "
              + " ".join(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}" for k, v in vars(PAPER_JOB_PROTOCOL).items()
                         if v != getattr(PROTOCOL, k)) + ".")


@main.command()
@click.option("--device", default="local", show_default=True,
              help="A profile in devices/ (or --devices-dir); with --farm, several (P1,P2): the grid on each.")
@click.option("--paper", is_flag=True, help=PAPER_HELP)
@click.option("--report-dir", default="reports/latest", show_default=True, type=click.Path(file_okay=False),
              help="--paper: where the report goes.")
@click.option("--export-jobs", type=click.IntRange(min=1),
              help="Models exported at once, in fresh processes, before anything is measured "
                   "(default: the cores this process may use).")
@click.option("--models", default="mobilenet_v3_large,mobilenet_v3_small", show_default=True,
              help="Comma-separated variants, e.g. mobilenet_v3_large:width=0.75,res=160,mobilenet_v2.")
@click.option("--runtimes", help="Comma-separated: " + ", ".join(RUNTIMES) + " (default: what the device runs; "
                                  + "; ".join(f"{kind}: {','.join(r)}" for kind, r in DEFAULT_RUNTIMES.items()) + ").")
@click.option("--precision", default="fp32", show_default=True,
              help="Comma-separated: " + ", ".join(PRECISIONS) + " (int8-fhs: int8 with float h-swish); "
                   "int8 runs on litert only.")
@_measuring_options
@click.option("--per-layer/--no-per-layer", default=True, show_default=True, help="Profile per-layer times too.")
@_db_option()
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the results JSON here.")
@click.option("--out-dir", default="reports", show_default=True, type=click.Path(file_okay=False),
              help="Where the results JSON and per-layer CSV go.")
@click.option("--resume", is_flag=True, help="Skip what the store already has for the same settings.")
@click.option("--metric", type=click.Choice(("time", "instructions")), default="time", show_default=True,
              help="instructions: count the instructions retired inside each invoke (local; hardware counters "
                   "or valgrind), deterministic on a noisy host.")
@click.option("--rebuild", is_flag=True, help=REBUILD_HELP)
def run(device, paper, report_dir, export_jobs, models, runtimes, precision, per_layer, db, json_out, out_dir, resume,
        metric, rebuild, **kw):
    """Measure latency (and per-layer times) of models x runtimes on a device (--paper: the paper's tables)."""
    import os
    import time
    from pathlib import Path

    from .core.output import check_folder, check_not_input, check_output, dumps, layers_csv, write_atomic, write_new
    from .core.registry import device_runtimes
    from .core.results import envelope
    from .options import target_inputs
    from .progress import RunDisplay
    from .report.run_table import describe, ratios_table, results_table
    from .runner import NotStored, plan_grid, run_grid
    from .store import Store
    from .targets.profiles import load_device
    from .ui import console
    from .zoo.spec import split_variant_list
    from .options import each_profile, farm_profiles

    if paper and "," in device:
        raise UserError(f"--paper writes one report of one device: give --device one profile (not {device}), "
                        "a command each")
    profiles = farm_profiles(device, kw.get("farm"))
    if profiles:
        return each_profile(run, profiles, {"json_out": "--json"})
    kind = load_device(device)["kind"]   # a bad device name fails before anything else
    if paper:
        from .report.accuracy import load_accuracy, load_paper_latency
        from .report.paper_job import RUNTIMES as PAPER_RUNTIMES, cells as paper_cells

        _paper_job(kw)
        runtimes = device_runtimes(kind, device, list(PAPER_RUNTIMES))
        accuracy = load_accuracy()
        cells = paper_cells(accuracy)
    else:
        runtimes = device_runtimes(kind, device, None if runtimes is None else _split(runtimes))
        cells = plan_grid(split_variant_list(models), runtimes, _split(precision))
    options = _measure_options(kw, device, metric=metric, per_layer=per_layer, runtimes=runtimes)
    protocol, settings = options.protocol, options.settings
    if not cells:
        raise UserError("nothing to measure: --models, --runtimes and --precision leave an empty grid")
    if metric == "instructions":
        from .measure.instructions import check_runtime

        if kind != "local":
            raise UserError(f"--metric instructions counts on this machine only (--device local), not {device}")
        for runtime in dict.fromkeys(c.runtime for c in cells):
            check_runtime(runtime)
    # every output is checked before anything is measured: a result is never lost to a bad path
    from .export.artifacts import artifact_dir, tool_versions

    read = {**_read_specs(cells), **target_inputs(device, kw)}
    check_not_input("--db", db.file, read)
    if json_out:   # first: a refused path leaves no folder made behind
        check_output("--json", json_out, inputs={"--db": db.file, **read})
    check_folder("--out-dir", out_dir)
    check_folder("the artifact cache", artifact_dir())
    if paper:
        from .report.commands import check_report_folder

        check_report_folder(Path(report_dir), list(PAPER_RUNTIMES), {"--db": db.file, **read})
    with Store(db) as store:
        target = _open_target(options.target)
        out = console()
        not_stored = None
        with RunDisplay(out, cells, protocol) as display:
            try:
                results = run_grid(cells, target, protocol, settings, store, resume=resume, metric=metric,
                                   on_event=display.on_event, on_progress=display.on_progress,
                                   rebuild=rebuild, export_jobs=export_jobs or len(os.sched_getaffinity(0)))
            except KeyboardInterrupt:
                display.live.stop()
                click.echo(f"interrupted: {sum(1 for r in display.done if r.ok)} finished "
                           f"measurement(s) are in {db}; run again with --resume to continue", err=True)
                sys.exit(130)
            except NotStored as e:   # the store failed (full, locked...): what was measured is written below
                results, not_stored = e.results, e
        text = dumps(envelope(results, target.describe(), protocol=protocol.as_dict(), versions=tool_versions()))
        stamp = time.strftime("%Y%m%d-%H%M%S")

        def json_copy() -> Path:
            write_atomic(Path(json_out), text, "--json")
            return Path(json_out)

        written, unwritten = _write_each(
            [("results", lambda: write_new(Path(out_dir), f"results-{stamp}", ".json", text)),
             ("per-layer", lambda: write_new(Path(out_dir), f"layers-{stamp}", ".csv", layers_csv(results)))]
            + ([("--json", json_copy)] if json_out else []))
        if paper:   # 27 cells and a hundred ratios: the report and Table 3 below show them
            out.print(describe(target.describe(), protocol, settings.threads, metric))
        else:
            out.print(results_table(results, describe(target.describe(), protocol, settings.threads, metric)))
            if (ratios := ratios_table(results)) is not None:
                out.print(ratios)
        out.print("; ".join([f"stored in {db}" if not_stored is None else f"NOT stored in {db}",
                             *(f"{what} {path}" for what, path in written)]))
        if paper and not_stored is None:
            _paper_report(store, accuracy, load_paper_latency(), device, Path(report_dir), db, protocol.statistic, out)
        if unwritten:
            click.echo(f"error: could not write {'; '.join(unwritten)}", err=True)
        if not_stored is not None:
            kept = " and ".join(str(path) for what, path in written if what != "per-layer") or "no file"
            stored = sum(1 for r in results if r.id is not None)
            click.echo(f"error: {not_stored}; stopped there: the {len(results)} result(s) measured are in {kept} "
                       f"({stored} of them stored in {db})", err=True)
        if unwritten or not_stored is not None:
            sys.exit(3)
        failed = [r for r in results if not r.ok]
        if failed:
            click.echo(f"error: {len(failed)} measurement(s) failed: {failed[0].error}", err=True)
            sys.exit(1)


def _paper_report(store, accuracy, paper, device: str, out_dir, db: str, statistic: str, out) -> None:
    """--paper's end: the report written, where it is, and the Table 3 it filled."""
    from .report.commands import figure_context
    from .report.index import write_report
    from .report.paper_job import RUNTIMES as PAPER_RUNTIMES, table3

    made, skipped, docs = write_report(
        out_dir, store, accuracy, paper, device=device, runtimes=list(PAPER_RUNTIMES), db=db, statistic=statistic,
        context=lambda figure: figure_context(store, accuracy, paper, device, PAPER_RUNTIMES[0], figure, False,
                                              statistic))
    out.print(table3(docs, device))
    out.print(f"report: {out_dir / 'index.md'} ({len(made)} tables and figures; {len(skipped)} could not be drawn, "
              "index.md says why)")


@main.command()
@click.argument("model")
@click.option("--runtime", default=None, help=" | ".join(RUNTIMES) + " (default: by the file type; "
                                              "litert for a variant).")
@click.option("--device", default="local", show_default=True, help="A profile in devices/ (or --devices-dir).")
@_measuring_options
@click.option("--group-depth", type=click.IntRange(min=1),
              help="Rows per module at this depth of the module tree (1 = top level; default: paper layers, "
                   "for other files the depth that shows the model's blocks).")
@click.option("--per-op", is_flag=True, help="One row per op the runtime ran.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the run JSON's shape) instead of tables.")
@click.option("--rebuild", is_flag=True, help=REBUILD_HELP)
def profile(model, runtime, device, group_depth, per_op, as_json, rebuild, **kw):
    """Per-layer table of one model: a VARIANT, or a .onnx / .tflite file (also one made by other tools)."""
    from pathlib import Path

    from .core.output import dumps
    from .core.registry import FILE_SUFFIXES, device_runtimes
    from .core.results import envelope
    from .report.run_table import describe, results_table
    from .runner import file_subject, measure, plan_grid, variant_subject
    from .runtimes.grouping import Grouping
    from .targets.profiles import load_device
    from .ui import console

    if group_depth and per_op:
        raise UserError("--group-depth and --per-op exclude each other")
    options = _measure_options(kw, device, group_depth=group_depth, per_op=per_op, runtimes=[runtime] if runtime else [])
    protocol, settings = options.protocol, options.settings
    if runtime is not None:
        device_runtimes(load_device(device)["kind"], device, [runtime])
    path = Path(model)
    if path.suffix in FILE_SUFFIXES or path.exists():
        subject = file_subject(path, runtime)
    else:
        subject = variant_subject(plan_grid([model], [runtime or "litert"], ["fp32"])[0], rebuild)
    target = _open_target(options.target)
    result = measure(subject, target, protocol, settings)
    if as_json:
        return click.echo(dumps(envelope([result], target.describe(), protocol=protocol.as_dict())))
    from rich.table import Table

    out = console()
    out.print(results_table([result], describe(target.describe(), protocol, settings.threads)))
    e2e, stat = result.headline()
    grouping = Grouping(**result.per_layer_grouping).describe(paper_layers=subject.net is not None)
    table = Table(title=f"{subject.name} {grouping} on {subject.runtime} ({subject.format}), from "
                        f"{protocol.profile_runs} profiled runs; end-to-end {stat} {e2e:.3f} ms")
    for col in ("layer", "op", "ms", "% of e2e"):
        table.add_column(col, justify="right" if col in ("ms", "% of e2e") else "left")
    for row in result.per_layer:
        table.add_row(row.name, row.op, f"{row.ms:.4f}", f"{100 * row.ms / e2e:.1f}")
    total = result.per_layer_sum_ms or 0.0
    table.add_row("sum of layers", "", f"{total:.4f}", f"{100 * total / e2e:.1f}", style="bold")
    out.print(table)


from .report.commands import plot, report, table  # noqa: E402
from .report.show import show  # noqa: E402
main.add_command(table)
main.add_command(plot)
main.add_command(report)
main.add_command(show)

from .commands.devices import devices, ingest  # noqa: E402
from .commands.farm import farm  # noqa: E402
from .compare.commands import baseline, compare  # noqa: E402
from .lut.commands import lut  # noqa: E402
from .commands.history import history  # noqa: E402
from .commands.store import store  # noqa: E402
main.add_command(devices)
main.add_command(ingest)
main.add_command(compare)
main.add_command(baseline)
main.add_command(lut)
main.add_command(farm)
main.add_command(history)
main.add_command(store)


if __name__ == "__main__":
    main()
