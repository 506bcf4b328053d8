"""Two saved results documents (run JSON files or baselines) compared cell by cell.

Cells match on variant, runtime and format; the device and the settings that change what is
measured (threads, runtime options) must agree, or the comparison is refused with what differs.
Saved runs were measured at different times, so the host's drift between them is in every ratio:
a reference cell measured in both (`--reference`, or any cell whose model file is byte-identical
in both, on the same runtime version) gives that drift, and every other cell's ratio is divided by
it (a cell never by its own). Without one, the output says so.

Both sides of a cell are read by one statistic (`--statistic`, default the one A was recorded
with), each from its blocks (measure/restate.py): a result measured under another statistic is
comparable when it carries its blocks; one without blocks to read it from is not compared, and
the output says why."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..core.documents import at, check_schema, read_json
from ..core.errors import UserError, shown
from ..core.registry import RUNTIME_PACKAGES
from ..core.results import SCHEMA, Result
from ..measure.restate import restated
from .verdict import (NOT_COMPARED, REFERENCE, Comparison, Ratio, corrected, exact_ratio, layer_attribution,
                      ratio_of_independent, verdict)

MAX_DOCUMENT_BYTES = 32 << 20   # a run of 12 cells and 40 processes writes ~3 MB
# settings that change what is measured; the protocol (runs, seconds) only changes how precisely
MEASURED_SETTINGS = ("threads", "xnnpack", "ort_opt_level", "format")


@dataclass
class Document:
    path: Path
    device: dict
    results: list[Result]
    provenance: dict | None
    versions: dict = field(default_factory=dict)   # package -> version the results ran with, where recorded


def load_document(path: str | Path) -> Document:
    """A results document (a run's JSON or a baseline), read bounded and strict, checked against
    results-v1.schema.json and for what a schema cannot say (check_results); every problem one
    line naming the file and the key."""
    path = Path(path)
    doc = read_json(path, MAX_DOCUMENT_BYTES, "results document")
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise UserError(f"{path}: not a mbv3bench results document (expected an object with `results`; "
                        "write one with `run --json FILE` or `baseline save FILE`)")
    if "schema" in doc and doc["schema"] != SCHEMA:
        raise at(path, ["schema"], f"results schema {str(doc['schema'])[:20]!r}; this version reads schema {SCHEMA}")
    check_schema(doc, "results-v1.schema.json", path)
    if not isinstance(doc["device"], dict) or "name" not in doc["device"]:
        raise at(path, ["device"], "not one device (an object with `name`): compare and baselines take the "
                                   "results of one device")
    results = [Result.from_json(r) for r in doc["results"]]
    check_results(results, doc["device"], path)
    provenance = doc.get("provenance")
    versions = doc.get("versions") or (provenance or {}).get("versions") or {}
    return Document(path, doc["device"], [r for r in results if r.ok], provenance, versions)


def check_results(results: list[Result], device: dict, path: str | Path) -> None:
    """What a schema cannot say: each result is of the document's device, each cell is there once
    (a second copy would silently win), and each interval is in order and holds its headline value."""
    first: dict[tuple, int] = {}
    for i, r in enumerate(results):
        if r.device != device["name"]:
            raise at(path, ("results", i, "device"), f"{r.device!r}, but the document is of device "
                                                      f"{device['name']!r}: a document holds one device's results")
        if _cell(r) in first:
            raise at(path, ("results", i), f"{_label(_cell(r))} again (also results[{first[_cell(r)]}]): a document "
                                            "holds each cell once")
        first[_cell(r)] = i
        lo, hi = r.latency.ci95
        value, statistic = r.headline()   # the interval is the headline statistic's, not always the median's
        if lo is not None and hi is not None and not lo <= (value if value is not None else lo) <= hi:
            raise at(path, ("results", i, "latency_ms", "ci95"),
                     f"[{lo:g}, {hi:g}] is not an interval holding the {statistic} {value}")


def _cell(r: Result) -> tuple:
    return (r.variant, r.runtime, r.format)


def _label(cell: tuple) -> str:
    return f"{cell[0]} on {cell[1]} ({cell[2]})"


def check_comparable(base: Document, current: Document) -> None:
    """The same device and CPU; one line naming what differs otherwise."""
    for key in ("name", "cpu_model", "model"):
        a, b = base.device.get(key), current.device.get(key)
        if a is not None and b is not None and a != b:
            raise UserError(f"{base.path} was measured on device {key} {shown(a)}, {current.path} on {shown(b)}: "
                            "latencies of different devices are not a regression check")


def _settings_differ(a: Result, b: Result) -> str | None:
    for key in MEASURED_SETTINGS:
        va, vb = a.settings.get(key), b.settings.get(key)
        if va != vb:
            return f"{key} {shown(va)} vs {shown(vb)}"
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


def runtime_changes(base: Document, current: Document) -> dict[str, str]:
    """runtime -> "PACKAGE A -> B", for each runtime whose version both documents record and differ on."""
    changes = {}
    for runtime, package in RUNTIME_PACKAGES.items():
        a, b = base.versions.get(package), current.versions.get(package)
        if a and b and a != b:
            changes[runtime] = f"{package} {a} in {base.path.name}, {b} in {current.path.name}"
    return changes


def _references(pairs: dict[tuple, tuple[Result, Result]], reference: str | None,
                changed: dict[str, str]) -> tuple[list[tuple], str]:
    """The cells whose ratio is the host's drift, and a sentence on where they come from."""
    if reference:
        found = [c for c in pairs if c[0] == reference]
        if not found:
            raise UserError(f"--reference {reference}: not a cell of both documents; "
                            f"cells in both: {', '.join(sorted({c[0] for c in pairs}))[:300]}")
        return found, f"reference cell {reference} (given by --reference)"
    # an identical model file is unchanged only on an unchanged runtime: after an upgrade it is what is tested
    found = [c for c, (a, b) in pairs.items()
             if a.artifact_sha256 and a.artifact_sha256 == b.artifact_sha256 and c[1] not in changed]
    return found, f"{len(found)} cell(s) whose model file (and runtime version) is identical in both runs"


def _drift(ratios: dict[tuple, Ratio], cell: tuple) -> Ratio | None:
    """The median of the other reference cells' ratios: a cell is never divided by its own."""
    others = sorted((r for c, r in ratios.items() if c != cell), key=lambda r: r.value)
    return others[(len(others) - 1) // 2] if others else None


def _drift_note(ratios: dict[tuple, Ratio], cells: list[tuple], how: str, metric: str) -> str:
    if metric == "instructions":
        return "instruction counts do not drift with the host's speed"
    if cells and not ratios:
        return f"{how}: no interval to estimate drift from; drift NOT removed"
    if not ratios:
        return ("no reference cell (no cell's model and runtime are identical in both, and no --reference): the "
                "host's drift between the two runs is NOT removed; measure both now with --ab, or add an "
                "unchanged model to both runs and pass --reference")
    drift = _drift(ratios, None)
    note = f"host drift {100 * (drift.value - 1):+.1f}% from {how}, divided out of every other cell's ratio"
    if len(ratios) == 1:
        note += f"; {_label(next(iter(ratios)))} is the only reference: its ratio is the drift, not judged"
    return note


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
    """(comparisons, unmatched cells, how drift and versions were handled); time read by `statistic`
    (None: as each cell's A was recorded). A cell in both that cannot be compared gets the verdict
    NOT_COMPARED, never "unchanged"."""
    check_comparable(base, current)
    a_cells = {_cell(r): r for r in base.results}   # each cell once: check_results refused copies
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
    changed = runtime_changes(base, current)
    raw = {cell: _ratio(a, b, metric) for cell, (a, b) in pairs.items()}
    cells, how = _references(pairs, reference, changed) if metric == "time" else ([], "")
    references = {c: raw[c] for c in cells if raw[c] is not None}
    comparisons = []
    for cell, (a, b) in pairs.items():
        r = raw[cell]
        drift = _drift(references, cell)
        if r is not None and drift is not None:
            r = corrected(r, drift)
        values = dict(a=a.variant, b=b.variant, runtime=cell[1], format=cell[2], metric=metric,
                      a_value=_value(a, metric)[0], b_value=_value(b, metric)[0])
        if r is None:
            comparisons.append(Comparison(**values, ratio=None, ci95=(None, None), p_value=None, verdict=NOT_COMPARED,
                                          how=f"no {metric} figure with an interval in both: nothing to test"))
            continue
        # the only reference is the yardstick: divided by itself it would read 1.000 whatever happened
        v = REFERENCE if cell in references and drift is None else verdict(r, threshold)
        comparisons.append(Comparison(**values, ratio=r.value, ci95=r.ci95, p_value=r.p_value, verdict=v, how=r.how,
                                      layers=layer_attribution(a, b) if v in ("regression", "improvement") else []))
    notes = [_drift_note(references, cells, how, metric)] + [f"runtime changed: {c}" for c in changed.values()]
    return comparisons, unmatched, "; ".join(notes)
