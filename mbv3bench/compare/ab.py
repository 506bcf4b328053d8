"""`compare --ab A B`: both measured now, interleaved in the same rounds on one pinned core (or both
counted by instructions), so the host's drift reaches A and B alike and their ratio holds still."""
from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError
from ..core.registry import FILE_SUFFIXES, check_runtime
from ..core.results import Result
from ..report.run_table import where_measured
from .verdict import NOT_COMPARED, Comparison, Ratio, exact_ratio, layer_attribution, verdict


def _subject(model: str, runtime: str):
    from ..runner import file_subject, plan_grid, variant_subject

    path = Path(model)
    if path.suffix in FILE_SUFFIXES or path.exists():
        return file_subject(path, runtime)
    return variant_subject(plan_grid([model], [runtime], ["fp32"])[0])


def _paired(b: Result) -> Ratio | None:
    """B's ratio over A from the blocks they shared (results_of puts it in B's `ratios`)."""
    if not b.ratios:
        return None
    from ..measure.blockstats import units_phrase

    r = b.ratios[0]
    units = units_phrase(r.get("units"), r.get("unit"))
    return Ratio(r["ratio"], tuple(r["ci95"]), r["p_value"] if r["p_value"] is not None else 1.0,
                 f"A and B interleaved in the same rounds, by the {r.get('statistic', 'median')}; interval and test "
                 f"from {units}, paired")


def _measure(a: str, b: str, runtime: str, options, target, store) -> tuple[Result, Result, str | None]:
    """A's and B's results, and why the store did not take them (None: stored)."""
    from ..export.artifacts import tool_versions
    from ..measure.adaptive import Interrupted
    from ..runner import measure_cells, results_of, settings_of
    from ..store import StoreError, measurement_key

    subjects = [_subject(m, runtime) for m in (a, b)]
    protocol, settings, metric = options.protocol, options.settings, options.metric
    try:
        raws = measure_cells(subjects, target, protocol, settings, metric=metric)
    except Interrupted as e:
        raise e.cause from None
    kept = [settings_of(s, settings, protocol, target.core, metric) for s in subjects]
    results = results_of(raws, subjects, device=target.name, core=target.core, settings=kept)
    try:   # the evidence behind the verdict stays in the store; a verdict is never lost to it
        run_id = store.start_run({**tool_versions(), "device": target.describe(), "compare": [a, b]})
        for s, st, r in zip(subjects, kept, results):
            r.id = store.add_measurement(run_id, measurement_key(s.name, s.sha256 or "torch", s.runtime, target.name,
                                                                 st), r, s.stored_artifact())
    except StoreError as e:
        return results[0], results[1], str(e)
    return results[0], results[1], None


def compare_ab(a: str, b: str, *, runtimes: list[str], threshold: float, db: str, options
               ) -> tuple[list[Comparison], dict]:
    """A and B measured now by `options` (runner.MeasureOptions), one comparison per runtime."""
    from ..store import Store
    from ..targets import open_target

    for r in runtimes:
        check_runtime(r)
    metric = options.metric
    target = open_target(options.target)
    comparisons, not_stored = [], []
    try:
        with Store(db) as store:
            for runtime in runtimes:
                ra, rb, refused = _measure(a, b, runtime, options, target, store)
                if refused:
                    not_stored.append(f"{runtime}: {refused}")
                if metric == "instructions":
                    ia, ib = (ra.instructions or {}).get("per_invoke"), (rb.instructions or {}).get("per_invoke")
                    if not ia or not ib:
                        raise UserError(f"no instruction count for {a} or {b} on {runtime}")
                    ratio, values = exact_ratio(ia, ib, f"instructions per invoke ({ra.instructions.get('counter')} "
                                                        "counter), deterministic"), (ia, ib)
                else:
                    ratio, values = _paired(rb), (ra.headline()[0], rb.headline()[0])
                    if ratio is None:
                        raise UserError(f"{a} and {b} on {runtime} have no paired blocks to compare")
                if None in ratio.ci95:   # paired over one round: nothing to test, so never "unchanged"
                    ratio = Ratio(None, (None, None), None, "A and B paired in one process (a phone: one round) give no "
                                                            "interval: measure more of them (--processes)")
                v = NOT_COMPARED if ratio.value is None else verdict(ratio, threshold)
                comparisons.append(Comparison(
                    a=ra.variant, b=rb.variant, runtime=runtime, format=rb.format, metric=metric, a_value=values[0],
                    b_value=values[1], ratio=ratio.value, ci95=ratio.ci95, p_value=ratio.p_value, verdict=v,
                    how=ratio.how, layers=layer_attribution(ra, rb) if v in ("regression", "improvement") else []))
    finally:
        target.close()
    header = {"what": f"{a} (A) vs {b} (B), {metric}, measured now on {where_measured(target.describe())}",
              "how": comparisons[0].how if comparisons else "", "threshold": threshold, "metric": metric,
              **({"not_stored": f"the measurements are NOT stored in {db} ({'; '.join(not_stored)})"}
                 if not_stored else {})}
    return comparisons, header
