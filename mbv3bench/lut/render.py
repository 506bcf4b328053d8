"""What the lut commands print: predictions and validation reports, as JSON documents and text."""
from __future__ import annotations

from ..core.output import num
from .predict import Prediction


def prediction_doc(p: Prediction, reference: Prediction | None = None, blocks: list[dict] | None = None) -> dict:
    """`lut predict --json`: {"variant", "predicted_ms", "ci95", "raw_ms", ["reference", "ratio",
    "ratio_ci95"], ["blocks"]}."""
    d = {"variant": p.variant, "predicted_ms": p.ms, "ci95": list(p.ci95), "raw_ms": p.raw_ms}
    if reference is not None:
        ratio, ci = p.ratio_to(reference)
        d.update(reference=reference.variant, reference_ms=reference.ms, ratio=ratio, ratio_ci95=list(ci))
    if blocks is not None:
        d["blocks"] = blocks
    return d


def prediction_row(d: dict) -> str:
    """One line of `lut predict FILE`: ID, ms, interval, [ratio], tab-separated."""
    return (f"{d['variant']}\t{d['predicted_ms']:.4f}\t{d['ci95'][0]:.4f}\t{d['ci95'][1]:.4f}"
            + (f"\t{d['ratio']:.4f}" if "ratio" in d else ""))


def prediction_text(d: dict, lut: dict) -> str:
    corr = lut.get("correction")
    how = (f"{corr['kind']} correction: {corr['intercept_ms']:.3f} ms + {corr['scale']:.3f} x sum"
           if corr and d["raw_ms"] != d["predicted_ms"] else f"sum of the blocks' {lut['statistic']}")
    lines = [f"{d['variant']}: {d['predicted_ms']:.3f} ms (95% interval {d['ci95'][0]:.3f}-{d['ci95'][1]:.3f}; "
             f"{how}) on {lut['runtime']} ({lut['format']}), {lut['device'].get('name')}"]
    if "ratio" in d:
        lines.append(f"  {d['ratio']:.3f} x {d['reference']} ({d['reference_ms']:.3f} ms), "
                     f"interval {d['ratio_ci95'][0]:.3f}-{d['ratio_ci95'][1]:.3f}")
    width = max(len(b["layer"]) for b in d["blocks"])
    lines.append(f"  {'layer':<{width}}  {'ms':>8}  {'95% CI':>17}  block (OFA key)")
    for b in d["blocks"]:
        lo, hi = b["ci95_ms"]
        lines.append(f"  {b['layer']:<{width}}  {b['ms']:8.4f}  {num(lo, '.4f'):>8}-{num(hi, '.4f'):<8}  "
                     f"{b['block']} ({b['ofa_key']})")
    lines.append(f"  {'sum':<{width}}  {d['raw_ms']:8.4f}")
    return "\n".join(lines)


def _pct(x) -> str:
    return num(None if x is None else 100 * x, ".0f") + "%"


def validation_text(rep: dict) -> str:
    unit = "ratio" if rep["value"] == "ratio" else "ms"
    lines = [f"{rep['space']} on {rep['runtime']} ({rep['format']}), {rep['device']}: {rep['n']} architectures "
             f"measured end to end" + (f", as ratios to {rep['reference']['variant']} "
                                       f"({rep['reference']['measured_ms']:.3f} ms)" if rep["reference"] else "")
             + f"; each the fastest of {rep['rounds']} round(s), by the {rep['statistic']}"]
    names = list(rep["metrics"])
    header = f"  {'measured':>9}  " + "  ".join(f"{n:>9}  {'err':>6}" for n in names) + "  variant"
    lines.append(header)
    for row in rep["rows"]:
        m = row[f"measured_{unit}"]
        cells = "  ".join(f"{row[f'{n}_{unit}']:9.4f}  {100 * (row[f'{n}_{unit}'] - m) / m:+5.1f}%" for n in names)
        lines.append(f"  {m:9.4f}  {cells}  {row['variant']}")
    for n, e in rep["metrics"].items():
        lines.append(f"{n:>9}: RMSE {e['rmse']:.4f} {unit}, MAPE {e['mape_pct']:.1f}%, bias {e['bias_pct']:+.1f}%, "
                     f"within 5% {_pct(e['within_5pct'])}, within 10% {_pct(e['within_10pct'])}, "
                     f"Kendall tau {num(e['kendall_tau'], '.2f')}")
    for device, metrics in (rep.get("per_device") or {}).items():
        lines.append(f"  on {device}: " + "; ".join(f"{n} MAPE {e['mape_pct']:.1f}% (n={e['n']})"
                                                     for n, e in metrics.items()))
    att = rep["attribution"]
    if att["networks"]:
        lines.append(f"where the sum of blocks differs from the networks (per-layer profiles of {att['networks']} "
                     f"runs; table minus network, ms per network):")
        for row in att["parts"][:6]:
            lines.append(f"  {row['part']:<10} {row['error_ms_per_network']:+.4f} ms  (in the network "
                         f"{num(row['ratio'], '.2f')} x its table time, {row['uses']} uses)")
        if att["outside_ops_ms"] is not None:
            lines.append(f"  time outside any op: {att['outside_ops_ms']:.4f} ms per network")
    for f in rep["failed"]:
        lines.append(f"failed: {f['variant']}: {f['error']}")
    lines.append(f"plot: {rep['plot']}")
    return "\n".join(lines)
