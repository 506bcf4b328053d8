"""`mbv3bench compare` and `mbv3bench baseline`: latency regression checks for CI. Exit codes:
1 when any cell regressed; 2 on bad input, when a cell in both could not be compared, or on any
failure (a crash must never read as a regression); 0 otherwise."""
from __future__ import annotations

import functools
import math
import sys
import traceback
from pathlib import Path

import click

from ..core.errors import UserError, one_line
from ..core.registry import PROTOCOL
from ..options import (db_option, each_profile, farm_profiles, measure_options, measuring_options, statistic_option,
                       target_inputs)

METRICS = ("time", "instructions")
DEFAULT_THRESHOLD = {"time": 2.0, "instructions": 1.0}   # time: 2x the A-vs-A spread seen here (benchmarks/false_alarms.py)


def _emit(comparisons, unmatched, header: dict, fmt: str, summary: str | None) -> None:
    from ..core.output import append_text
    from .render import RENDERERS, markdown

    click.echo(RENDERERS[fmt](comparisons, unmatched, header), nl=False)
    if summary:   # e.g. $GITHUB_STEP_SUMMARY: the Markdown whatever --format prints
        append_text(summary, markdown(comparisons, unmatched, header), "--summary")
    from .verdict import NOT_COMPARED

    verdicts = {c.verdict for c in comparisons}
    if header.get("not_stored"):   # said after the verdict, which stands
        click.echo(f"error: {header['not_stored']}", err=True)
    if "regression" in verdicts:
        sys.exit(1)
    if NOT_COMPARED in verdicts:
        sys.exit(2)
    if header.get("not_stored"):
        sys.exit(3)


def _finite(ctx, param, value):
    if value is not None and not math.isfinite(value):   # NaN passes a range check: every test with it is false
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def _never_a_regression(command):
    """CI reads exit 1 as "regression": anything unexpected becomes one line and exit 2 (nothing was
    compared), with where it happened, instead of a traceback and exit 1."""
    @functools.wraps(command)
    def guarded(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (UserError, click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as e:
            frame = traceback.extract_tb(e.__traceback__)[-1]
            raise UserError(f"compare failed ({one_line(e, typed=True)} at {Path(frame.filename).name}:"
                            f"{frame.lineno}): nothing was compared; this is a bug, please report it") from None
    return guarded


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--ab", nargs=2, metavar="A B", help="Measure A and B now, interleaved: variants or model files.")
@click.option("--runtime", "runtimes", multiple=True, help="Runtime(s) for --ab (default litert); repeatable.")
@click.option("--metric", type=click.Choice(METRICS), default="time", show_default=True)
@click.option("--threshold", type=click.FloatRange(min=0, max=1000), callback=_finite, help="Smallest change that counts, in % "
              "(default 2 for time, 1 for instructions).")
@click.option("--reference", help="Saved files: a cell unchanged between them, whose ratio is the host's drift.")
@click.option("--format", "fmt", type=click.Choice(("md", "json", "text")), default="text", show_default=True)
@click.option("--summary", type=click.Path(dir_okay=False), help="Also append the Markdown table to this file "
              "(e.g. $GITHUB_STEP_SUMMARY).")
@click.option("--device", default="local", show_default=True,
              help="--ab: where to measure; with --farm, several (P1,P2): A against B on each in turn.")
@db_option("--ab: the results store the measurements go into (an SQLite file or a PostgreSQL URL).")
@statistic_option(None, f"Time by this statistic of the block medians: --ab measures by it (default "
                        f"{PROTOCOL.statistic}); saved files are read by it, each result from its blocks "
                        "(default: as each cell of BASELINE was recorded).")
@measuring_options(statistic=False)
@_never_a_regression
def compare(files, ab, runtimes, metric, threshold, reference, fmt, summary, device, db, statistic, **kw):
    """Is B slower than A? `compare BASELINE CURRENT` (two saved results: run --json files or baselines)
    or `compare --ab A B` (both measured now, interleaved on one core: the strongest test on a noisy
    runner). Verdicts: regression (slower by more than --threshold AND significant), improvement,
    unchanged, not compared (nothing to test). Exit 1 on any regression; 2 on bad input or when a
    cell could not be compared; 0 otherwise."""
    threshold = (DEFAULT_THRESHOLD[metric] if threshold is None else threshold) / 100
    if ab and files:
        raise UserError("give either two saved files or --ab A B, not both")
    profiles = farm_profiles(device, kw.get("farm")) if ab else None
    if profiles:   # --summary gets each profile's table appended, as CI's step summary wants
        return each_profile(compare, profiles, {}, one_document="--format json" if fmt == "json" else None)
    from ..core.output import check_not_input, check_output

    models = {f"--ab {name}": m for name, m in zip("AB", ab or ()) if Path(m).exists()}
    if ab:
        options = measure_options(kw, device, statistic=statistic or PROTOCOL.statistic, metric=metric,
                                  runtimes=list(runtimes) or ["litert"])
        models.update(target_inputs(device, kw))
        check_not_input("--db", db.file, models)
    if summary:   # before anything is read or measured: a verdict is never lost to a bad path
        check_output("--summary", summary, inputs={**dict(zip(("BASELINE", "CURRENT"), files)), **models,
                                                   **({"--db": db.file} if ab else {})})
    if ab:
        from .ab import compare_ab

        comparisons, header = compare_ab(ab[0], ab[1], runtimes=list(runtimes) or ["litert"], threshold=threshold,
                                         db=db, options=options)
        return _emit(comparisons, [], header, fmt, summary)
    if len(files) != 2:
        raise UserError(f"compare takes two saved results files (BASELINE CURRENT) or --ab A B; got {len(files)} file(s)")
    from .saved import compare_documents, load_document

    base, current = load_document(files[0]), load_document(files[1])
    comparisons, unmatched, drift = compare_documents(base, current, metric=metric, threshold=threshold,
                                                      reference=reference, statistic=statistic)
    by = f" by the {statistic}" if statistic and metric == "time" else ""
    header = {"what": f"{Path(files[0]).name} (A) vs {Path(files[1]).name} (B), {metric}{by}", "how": drift,
              "threshold": threshold, "metric": metric}
    _emit(comparisons, unmatched, header, fmt, summary)


@click.group()
def baseline():
    """Baselines meant to be committed: results plus provenance (versions, device, git revision)."""


@baseline.command("save")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--from", "source", type=click.Path(dir_okay=False, exists=True),
              help="A run's results JSON (run --json FILE); default: the store's latest results.")
@db_option()
@click.option("--device", default="local", show_default=True, help="With the store: whose results.")
@click.option("--runtime", help="With the store: only this runtime.")
@click.option("--models", help="With the store: only these comma-separated variants.")
@click.option("--from-db", "branch", metavar="BRANCH",
              help="The store's latest result of each cell measured at a git revision on BRANCH (e.g. main), "
                   "not merely the latest.")
def baseline_save(file, source, db, device, runtime, models, branch):
    """Write FILE: the results and where they came from."""
    from ..core.output import check_output, dumps, write_atomic
    from .baseline import baseline_document

    check_output("FILE", file, inputs={"--from": source, "--db": db.file})
    if source and branch:
        raise UserError("give either --from RUN.json or --from-db BRANCH, not both")
    if source:
        from .saved import load_document

        doc = load_document(source)
        results, described, origin, versions = doc.results, doc.device, str(source), doc.versions
    else:
        results, described, origin, versions = _from_store(db, device, runtime, models, branch)
    if not results:
        raise UserError(f"nothing to save: no successful result in {source or db}"
                        + ("" if source else f" for device {device}") + (f" measured on {branch}" if branch else ""))
    write_atomic(Path(file), dumps(baseline_document(results, described, origin, versions)) + "\n", "FILE")
    click.echo(f"wrote {file}: {len(results)} result(s) on {described.get('name', device)}, from {origin}")


def _from_store(db, device, runtime, models, branch=None):
    """The store's latest result of each cell (of those measured at a revision on BRANCH), with the
    versions and the device's description its runs recorded (the device as described now only
    where a run recorded none)."""
    from ..core.registry import check_runtime
    from ..store import Store
    from ..targets import TargetOptions, open_target
    from ..targets.profiles import load_device
    from ..zoo.spec import parse_variant, split_variant_list
    from .baseline import merged_versions, revisions_on

    profile = load_device(device)
    wanted = {str(parse_variant(v)) for v in split_variant_list(models)} if models else None
    runtime = check_runtime(runtime) if runtime else None
    on_branch = revisions_on(branch) if branch else None
    with Store(db, readonly=True) as store:
        found = (store.measurements(device=device, runtime=runtime) if branch is None else
                 [r for r, run in store.history(None, device=device, runtime=runtime) if run.get("git_rev") in on_branch])
        latest = {(r.variant, r.runtime, r.format): r   # oldest first: the last is the latest
                  for r in found if wanted is None or r.variant in wanted}
        results = list(latest.values())
        runs = store.runs_of([r.id for r in results])
    recorded = [runs.get(r.id, {}) for r in results]
    described = next((v["device"] for v in reversed(recorded) if isinstance(v.get("device"), dict)), None)
    if described is None:
        described = (open_target(TargetOptions(device)).describe() if profile["kind"] == "local"
                     else {"name": device, **profile})
    origin = f"store {db}" + (f", the latest measured on {branch}" if branch else "")
    return results, described, origin, merged_versions(recorded)


@baseline.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
def baseline_show(file):
    """What a baseline holds and where it came from."""
    from ..core.output import num
    from .saved import load_document

    doc = load_document(file)
    prov = doc.provenance or {}
    click.echo(f"{file}: {len(doc.results)} result(s) on {doc.device.get('name')} "
               f"({doc.device.get('cpu_model') or doc.device.get('model') or 'unknown CPU'})")
    if prov:
        versions = ", ".join(f"{k} {v}" for k, v in doc.versions.items() if v) or "versions not recorded"
        click.echo(f"saved {prov.get('saved_at')} by {prov.get('user')}@{prov.get('host')}, git {prov.get('git_rev')}, "
                   f"mbv3bench {prov.get('tool_version')}; {versions}")
    else:
        click.echo("no provenance: a run's results file, not a saved baseline")
    for r in doc.results:
        ms, stat = r.headline()
        lo, hi = r.latency.ci95
        ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
        click.echo(f"  {r.variant} on {r.runtime} ({r.format}): {stat} {num(ms)} ms{ci}, n={r.n}, "
                   f"threads {r.settings.get('threads')}, core {r.core}")
