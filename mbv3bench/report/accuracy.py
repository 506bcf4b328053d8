"""Published reference numbers: top-1 (models/accuracy.csv, plus a user's file; for a detection or
segmentation network its COCO mAP or Cityscapes mIOU), the paper's Pixel latencies
(models/paper_latency.csv) and its params and MAdds of the networks it tabulates without a
classifier (models/paper_cost.csv). Nothing here is ever estimated: a variant without a row has
no top-1, and reports leave it out and say so."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError, shown
from ..core.registry import PRECISIONS
from ..core.resources import BUILTIN_MODELS
from ..core.untrusted import MiB, number, read_text
from ..zoo.spec import SpecError, Variant, parse_variant

ACCURACY_CSV = BUILTIN_MODELS / "accuracy.csv"
PAPER_LATENCY_CSV = BUILTIN_MODELS / "paper_latency.csv"
PAPER_COST_CSV = BUILTIN_MODELS / "paper_cost.csv"
PIXELS = ("pixel1", "pixel2", "pixel3")
# when a variant is in several published tables, the paper's own tables win over its companions
TABLE_PRIORITY = ("3", "4", "5", "tf-slim")
CSV_LIMIT = 4 * MiB     # a row is ~60 bytes: room for every variant there is


@dataclass(frozen=True)
class Top1:
    value: float
    source: str


def _rows(path: Path, required: tuple[str, ...]):
    """(line number, row) of a CSV, every problem a UserError naming file and line."""
    reader = csv.DictReader(io.StringIO(read_text(path, CSV_LIMIT, "CSV file"), newline=""))
    try:
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}:1: missing column {', '.join(missing)}; "
                            f"expected columns {','.join(required)}")
        for row in reader:
            empty = [c for c in required if not (row.get(c) or "").strip()]
            if empty:
                raise UserError(f"{path}:{reader.line_num}: missing value for {', '.join(empty)}")
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}
    except csv.Error as e:  # e.g. a field longer than the csv module's limit
        # the csv module counts a line once it has parsed it: the bad one is the next
        raise UserError(f"{path}:{reader.line_num + 1}: not valid CSV ({e})") from None


def _variant(path: Path, line: int, text: str) -> str:
    try:
        return str(parse_variant(text))
    except SpecError as e:
        raise UserError(f"{path}:{line}: unknown variant {shown(text)} ({e})") from None


def _number(path: Path, line: int, column: str, text: str, lo: float, hi: float) -> float:
    try:
        return number(text, lo, hi)
    except ValueError as e:
        raise UserError(f"{path}:{line}: {column} {e}") from None


def _precision(path: Path, line: int, text: str) -> str:
    if text not in PRECISIONS:
        raise UserError(f"{path}:{line}: precision {shown(text)} is not allowed; allowed: {', '.join(PRECISIONS)}")
    return text


class AccuracyTable:
    def __init__(self, rows: dict[tuple[str, str], Top1]):
        self.rows = rows

    def top1(self, variant: str, precision: str = "fp32") -> Top1 | None:
        v = parse_variant(variant)
        found = self.rows.get((str(v), precision))
        if found or v.get("hswish") is None:
            return found
        # fused and naive h-swish compute the same function: the fused network's top-1 is the naive one's
        fused = Variant(v.name, tuple(kv for kv in v.knobs if kv[0] != "hswish"))
        same = self.rows.get((str(fused), precision))
        return Top1(same.value, f"{same.source} (as {fused}: hswish=naive is the same function)") if same else None


def load_accuracy(user_file: str | Path | None = None) -> AccuracyTable:
    """The published top-1s, with a user's file (variant,precision,top1[,source]) adding or overriding
    rows. Within one file a (variant, precision) may appear once: which of two would win is a guess."""
    rows: dict[tuple[str, str], Top1] = {}
    files = [(ACCURACY_CSV, None)] + ([(Path(user_file), f"user file {Path(user_file).name}")] if user_file else [])
    for path, default_source in files:
        seen: dict[tuple[str, str], int] = {}
        for line, r in _rows(path, ("variant", "precision", "top1") + (("source",) if default_source is None else ())):
            key = (_variant(path, line, r["variant"]), _precision(path, line, r["precision"]))
            if key in seen:
                raise UserError(f"{path}:{line}: {key[0]} {key[1]} is already on line {seen[key]}; "
                                "give each variant and precision once")
            seen[key] = line
            rows[key] = Top1(_number(path, line, "top1", r["top1"], 0, 100), r.get("source") or default_source)
    return AccuracyTable(rows)


class PaperLatency:
    """Published ms by (variant, precision, table) and device."""

    def __init__(self, rows: dict[tuple[str, str, str], dict[str, float]], costs: dict[str, dict[str, float]]):
        self.rows, self.costs = rows, costs

    def cost(self, variant: str) -> dict[str, float]:
        """{"params_m", "madds_m"} as the paper gives them, {} where it does not."""
        return self.costs.get(variant, {})

    def table(self, variant: str, precision: str, table: str) -> dict[str, float]:
        return self.rows.get((variant, precision, table), {})

    def best(self, variant: str, precision: str, device: str) -> tuple[float, str] | None:
        """The published ms on one phone, from the most authoritative table that has it."""
        for table in TABLE_PRIORITY:
            ms = self.table(variant, precision, table).get(device)
            if ms is not None:
                return ms, table
        return None


def load_paper_latency() -> PaperLatency:
    rows: dict[tuple[str, str, str], dict[str, float]] = {}
    path = PAPER_LATENCY_CSV
    for line, r in _rows(path, ("variant", "precision", "table", "device", "ms", "source")):
        key = (_variant(path, line, r["variant"]), _precision(path, line, r["precision"]), r["table"])
        rows.setdefault(key, {})[r["device"]] = _number(path, line, "ms", r["ms"], 0, 1e6)
    costs = {_variant(PAPER_COST_CSV, line, r["variant"]): {k: _number(PAPER_COST_CSV, line, k, r[k], 0, 1e6)
                                                            for k in ("params_m", "madds_m")}
             for line, r in _rows(PAPER_COST_CSV, ("variant", "params_m", "madds_m", "source"))}
    return PaperLatency(rows, costs)
