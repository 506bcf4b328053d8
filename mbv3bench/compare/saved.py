"""Two saved results documents (run JSON files or baselines) compared cell by cell.

Cells match on variant, runtime and format; the device and the settings that change what is
measured (threads, runtime options) must agree, or the comparison is refused with what differs.
Saved runs were measured at different times, so the host's drift between them is in every ratio:
a reference cell measured in both (`--reference`, or any cell whose model file is byte-identical
in both) gives that drift, and every ratio is divided by it. Without one, the output says so.

Both sides of a cell are read by one statistic (`--statistic`, default the one A was recorded
with), each from its blocks (measure/restate.py): a result measured under another statistic is
comparable when it carries its blocks; one without blocks to read it from is not compared, and
the output says why."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..core.results import SCHEMA, Result
from ..measure.restate import restated
from .verdict import Comparison, Ratio, corrected, exact_ratio, layer_attribution, ratio_of_independent, verdict

MAX_DOCUMENT_BYTES = 64 << 20
# settings that change what is measured; the protocol (runs, seconds) only changes how precisely
MEASURED_SETTINGS = ("threads", "xnnpack", "ort_opt_level", "format")


@dataclass
class Document:
    path: Path
    device: dict
    results: list[Result]
    provenance: dict | None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def load_document(path: str | Path) -> Document:
    """A results document, read bounded and parsed strictly; every problem one line naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UserError(f"{path}: larger than {MAX_DOCUMENT_BYTES >> 20} MB; not a results document")
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path}: not valid JSON ({str(e)[:200]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise UserError(f"{path}: not a mbv3bench results document (expected an object with `results`; "
                        "write one with `run --json FILE` or `baseline save FILE`)")
    if doc.get("schema", SCHEMA) != SCHEMA:
        raise UserError(f"{path}: results schema {doc.get('schema')!r}; this version reads schema {SCHEMA}")
    try:
        results = [Result.from_json(r) for r in doc["results"] if isinstance(r, dict)]
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
    device = doc.get("device") if isinstance(doc.get("device"), dict) else {}
    return Document(path, device, [r for r in results if r.ok], doc.get("provenance"))


def _cell(r: Result) -> tuple:
    return (r.variant, r.runtime, r.format)


def _label(cell: tuple) -> str:
    return f"{cell[0]} on {cell[1]} ({cell[2]})"


def check_comparable(base: Document, current: Document) -> None:
    """The same device and CPU; one line naming what differs otherwise."""
    for key in ("name", "cpu_model", "model"):
        a, b = base.device.get(key), current.device.get(key)
        if a is not None and b is not None and a != b:
            raise UserError(f"{base.path} was measured on device {key} {a!r}, {current.path} on {b!r}: "
                            "latencies of different devices are not a regression check")


def _settings_differ(a: Result, b: Result) -> str | None:
    for key in MEASURED_SETTINGS:
        va, vb = a.settings.get(key), b.settings.get(key)
        if va != vb:
            return f"{key} {va!r} vs {vb!r}"
    return None


def _value(r: Result, metric: str) -> tuple[float | None, tuple]:
    if metric == "instructions":
        counted = r.device_state.get("instructions") or getattr(r, "instructions", None) or {}
        return counted.get("per_invoke"), (None, None)
    ms, _ = r.headline()
    return ms, tuple(r.latency.ci95)


def _ratio(a: Result, b: Result, metric: str) -> Ratio | None:
    va, ca = _value(a, metric)
    vb, cb = _value(b, metric)
    if not va or not vb or not math.isfinite(va) or not math.isfinite(vb):
        return None
    if metric == "instructions":
        return exact_ratio(va, vb, "instruction counts (deterministic)")
    return ratio_of_independent(va, ca, vb, cb, f"two saved runs: the intervals of their {b.headline()[1]}s combined")


def _drift(pairs: dict[tuple, tuple[Result, Result]], reference: str | None, metric: str) -> tuple[Ratio | None, str]:
    """The host's drift between the runs, and a sentence on where it comes from."""
    if metric == "instructions":
        return None, "instruction counts do not drift with the host's speed"
    if reference:
        found = [(a, b) for (v, _, _), (a, b) in pairs.items() if v == reference]
        if not found:
            raise UserError(f"--reference {reference}: not a cell of both documents; "
                            f"cells in both: {', '.join(sorted({c[0] for c in pairs}))}")
        how = f"reference cell {reference} (given by --reference)"
    else:
        found = [(a, b) for a, b in pairs.values() if a.artifact_sha256 and a.artifact_sha256 == b.artifact_sha256]
        if not found:
            return None, ("no reference cell (no cell's model is identical in both, and no --reference): the "
                          "host's drift between the two runs is NOT removed; measure both now with --ab, or add an "
                          "unchanged model to both runs and pass --reference")
        how = f"{len(found)} cell(s) whose model file is identical in both runs"
    ratios = [r for r in (_ratio(a, b, metric) for a, b in found) if r]
    if not ratios:
        return None, f"{how} have no interval to estimate drift from; drift NOT removed"
    drift = sorted(ratios, key=lambda r: r.value)[(len(ratios) - 1) // 2]   # the median cell
    return drift, f"host drift {100 * (drift.value - 1):+.1f}% from {how}, divided out of every ratio"


def _read_by(pairs: dict[tuple, tuple[Result, Result]], statistic: str | None,
             unmatched: list[str]) -> dict[tuple, tuple[Result, Result]]:
    """Both sides of each cell by one statistic (None: A's); a cell one side cannot be read by
    it goes to `unmatched`, with why."""
    read = {}
    for cell, (a, b) in pairs.items():
        stat = statistic or a.statistic
        both = (restated(a, stat), restated(b, stat))
        lacking = [f"{side} is by the {r.statistic}" for side, r in zip("AB", both) if r.statistic != stat]
        if lacking:
            unmatched.append(f"{_label(cell)}: not readable by the {stat} ({', '.join(lacking)}, without the "
                             "blocks to read another statistic from)")
        else:
            read[cell] = both
    return read


def compare_documents(base: Document, current: Document, *, metric: str, threshold: float,
                      reference: str | None = None, statistic: str | None = None
                      ) -> tuple[list[Comparison], list[str], str]:
    """(comparisons, unmatched cells, how drift was handled); time read by `statistic` (None: as
    each cell's A was recorded)."""
    check_comparable(base, current)
    a_cells = {_cell(r): r for r in base.results}
    b_cells = {_cell(r): r for r in current.results}
    pairs = {c: (a_cells[c], b_cells[c]) for c in a_cells if c in b_cells}
    unmatched = ([f"only in {base.path.name}: {_label(c)}" for c in a_cells if c not in b_cells]
                 + [f"only in {current.path.name}: {_label(c)}" for c in b_cells if c not in a_cells])
    if not pairs:
        raise UserError(f"no cell of {base.path} matches one of {current.path} (cells match on variant, runtime "
                        f"and format); {len(a_cells)} vs {len(b_cells)} cell(s)")
    for cell, (a, b) in pairs.items():
        differ = _settings_differ(a, b)
        if differ:
            raise UserError(f"{_label(cell)} was measured with other settings in {current.path} ({differ}): "
                            "not comparable")
    if metric == "time":
        pairs = _read_by(pairs, statistic, unmatched)
    drift, drift_note = _drift(pairs, reference, metric)
    comparisons = []
    for cell, (a, b) in pairs.items():
        r = _ratio(a, b, metric)
        if r is None:
            unmatched.append(f"no {metric} figure with an interval in both: {_label(cell)}")
            continue
        if drift is not None and cell[0] != reference:
            r = corrected(r, drift)
        v = verdict(r, threshold)
        comparisons.append(Comparison(
            a=a.variant, b=b.variant, runtime=cell[1], format=cell[2], metric=metric, a_value=_value(a, metric)[0],
            b_value=_value(b, metric)[0], ratio=r.value, ci95=r.ci95, p_value=r.p_value, verdict=v, how=r.how,
            layers=layer_attribution(a, b) if v != "unchanged" else []))
    return comparisons, unmatched, drift_note
