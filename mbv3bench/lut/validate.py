"""How wrong a table is on this device: random architectures measured end to end against their
predictions, by the plain sum and by the table's correction, optionally as ratios to a reference
architecture measured with them (the host's drift between building and checking cancels)."""
from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError
from ..core.output import write_figure
from ..core.results import Result
from .fit import attribution
from .measuring import value_of
from .devices import label_of
from .predict import Predictor
from .stats import errors


def report(doc: dict, results: list[Result], reference: Result | None = None, rounds: int = 1) -> dict:
    """The `lut validate --json` document (results: the measured architectures)."""
    ok = [r for r in results if r.ok]
    if reference is not None and not reference.ok:
        raise UserError(f"the reference {reference.variant} failed: {reference.error}")
    if not ok:
        raise UserError("no end-to-end measurement succeeded: nothing to validate")
    predictors = {"raw": Predictor(doc, corrected=False)}
    if doc.get("correction"):
        predictors["corrected"] = Predictor(doc)
    statistic = doc["statistic"]
    ref_ms = value_of(reference, statistic)[0] if reference else None
    ref_pred = {name: p.predict(reference.variant) for name, p in predictors.items()} if reference else {}
    rows = []
    for r in ok:
        ms, ci = value_of(r, statistic)
        row = {"variant": r.variant, "measured_ms": ms, "measured_ci95": list(ci), "madds": r.madds,
               "noisy": r.noisy, "measurement_id": r.id, "device": label_of(r)}
        for name, p in predictors.items():
            pred = p.predict(r.variant)
            row[f"{name}_ms"], row[f"{name}_ci95"] = pred.ms, list(pred.ci95)
            if reference:
                row[f"{name}_ratio"] = pred.ratio_to(ref_pred[name])[0]
        if reference:
            row["measured_ratio"] = ms / ref_ms
        rows.append(row)
    value = "ratio" if reference else "ms"
    measured = [row[f"measured_{value}"] for row in rows]
    doc_out = {"space": doc["space"], "runtime": doc["runtime"], "format": doc.get("format"),
               "device": doc["device"].get("name"), "statistic": statistic, "rounds": rounds, "value": value,
               "n": len(rows),
               "failed": [{"variant": r.variant, "error": r.error} for r in results if not r.ok],
               "reference": ({"variant": reference.variant, "measured_ms": ref_ms,
                              **{f"{name}_ms": pr.ms for name, pr in ref_pred.items()}} if reference else None),
               "rows": rows,
               "metrics": {name: errors([row[f"{name}_{value}"] for row in rows], measured) for name in predictors},
               "attribution": attribution(predictors["raw"], ok)}
    devices = list(dict.fromkeys(row["device"] for row in rows if row["device"]))
    if len(devices) > 1:   # a farm's: how wrong the table is on each of its devices
        doc_out["per_device"] = {
            d: {name: errors([row[f"{name}_{value}"] for row in rows if row["device"] == d],
                             [row[f"measured_{value}"] for row in rows if row["device"] == d]) for name in predictors}
            for d in devices}
    if reference:   # the absolute numbers too: what a reader without a reference compares
        doc_out["metrics_ms"] = {name: errors([row[f"{name}_ms"] for row in rows], [row["measured_ms"] for row in rows])
                                 for name in predictors}
    return doc_out


def plot(rep: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    value = rep["value"]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    measured = [row[f"measured_{value}"] for row in rep["rows"]]
    styles = {"raw": ("o", "sum of blocks"), "corrected": ("s", "with the table's correction")}
    everything = list(measured)
    for name, metrics in rep["metrics"].items():
        predicted = [row[f"{name}_{value}"] for row in rep["rows"]]
        everything += predicted
        marker, label = styles[name]
        ax.scatter(predicted, measured, marker=marker, alpha=0.8,
                   label=f"{label}: MAPE {metrics['mape_pct']:.1f}%, tau {_num(metrics['kendall_tau'])}")
    lo, hi = min(everything) * 0.95, max(everything) * 1.05
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1)
    for band in (0.9, 1.1):
        ax.plot([lo, hi], [lo * band, hi * band], color="grey", linewidth=0.8, linestyle="--")
    unit = f"{rep['statistic']} latency" + (" / the reference's" if value == "ratio" else " (ms)")
    ax.set_xlabel(f"predicted {unit}")
    ax.set_ylabel(f"measured {unit}")
    ax.set_title(f"{rep['space']} on {rep['runtime']} ({rep['device']}), n={rep['n']}; dashed: +-10%", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    write_figure(fig, path, "--plot", dpi=120, format="png")
    plt.close(fig)


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"
