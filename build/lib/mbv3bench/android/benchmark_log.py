"""Parser for the text output of TFLite/LiteRT's `benchmark_model`, across its formats.

Covers the old untagged output (space- or tab-separated op tables with a `[start]` column), the
`INFO:`-prefixed LiteRT output (ms `BENCHMARK RESULTS` block, no `[start]`), CSV op tables
(`--op_profiling_output_mode=csv`), and logs that hold only part of any of these.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# A % cell is nan when its table's total time is 0; MSVC prints that as -nan(ind).
_CELL = rf"({_NUM}|[-+]?nan|[-+]?inf)(?:\(ind\))?%?"

# "INFO: ", "INFO: [litert/tools/x.h:88] ", glog's "2018-09-10 12:36:37.57: I path/x.cc:361] ".
# Table rows start with a tab or spaces, so only a line starting otherwise can carry the file:line.
_PREFIX = re.compile(r"^(?:[A-Z]+:[ \t]?)?(?:\S.*?[\w/.-]+\.(?:cc|cpp|c|h|hpp):\d+\][ \t]?)?")
# Stat<T>::OutputToStream: "count=0", "count=1 curr=X" or the full first/curr/min/max/avg/std line.
_STAT = re.compile(rf"^(Timings \(microseconds\):\s*)?count=(\d+)((?:\s+\w+={_NUM})*)\s*$")
_PAIR = re.compile(rf"(\w+)=({_NUM})")
_US_LINE = re.compile(r"inference timings in us:(.*)", re.I)
_US_PAIR = re.compile(rf"([A-Za-z][A-Za-z ()]*?)\s*:\s*({_NUM})")
_MS_LINE = re.compile(rf"^([A-Za-z][A-Za-z ()]*?):\s*({_NUM})\s*ms\b")
_SESSION = re.compile(rf"Initialized session in\s*({_NUM})\s*ms")
_TITLE = re.compile(r"^=+\s*(.*?)\s*=+$")

_COLUMNS = {"start": "start_ms", "first": "first_ms", "avgms": "avg_ms", "%": "pct", "avg%": "pct",
            "memkb": "mem_kb", "timescalled": "times_called", "count": "count"}
_INT_COLUMNS = {"times_called", "count"}


class BenchmarkLogError(ValueError):
    """The text is not benchmark_model output."""


@dataclass(frozen=True)
class OpRow:
    name: str
    node_type: str
    avg_ms: float
    first_ms: float | None
    start_ms: float | None
    pct: float | None
    mem_kb: float | None
    times_called: int | None


@dataclass(frozen=True)
class NodeTypeRow:
    node_type: str
    count: int | None
    avg_ms: float
    pct: float | None
    times_called: int | None


@dataclass(frozen=True)
class BenchmarkLog:
    fmt: str
    avg_us: float | None
    median_us: float | None
    std_us: float | None
    min_us: float | None
    max_us: float | None
    count: int | None
    init_us: float | None
    first_us: float | None
    warmup_avg_us: float | None
    profiler_avg_us: float | None
    ops: tuple[OpRow, ...]
    init_ops: tuple[OpRow, ...]
    by_node_type: tuple[NodeTypeRow, ...]

    @property
    def ops_sum_ms(self) -> float | None:
        return sum(op.avg_ms for op in self.ops) if self.ops else None

    def summary_ms(self) -> dict:
        """The end-to-end figures in ms, as measure.summary_statistics takes them; None where absent."""
        ms = {k: None if v is None else v / 1000 for k, v in (
            ("mean", self.avg_us), ("median", self.median_us), ("std", self.std_us), ("min", self.min_us),
            ("max", self.max_us))}
        return {**ms, "n": self.count}


def _row_parser(header: str):
    """A function turning one row of the table headed by `header` into (type, name, fields).

    Cells are located from the header's column list rather than by splitting, because node types
    ("Vx Delegate", "Fully Connected (NC, PF32) GEMM") and names ("[a, b]:3") hold the separators.
    Returns None when `header` is not a table header.
    """
    labels = re.findall(r"\[([^\]]*)\]", header)
    sep = r"\s+" if labels else r"\s*,\s*"
    labels = labels or header.split(",")
    labels = [re.sub(r"[\s_]", "", label).lower() for label in labels]
    has_name = labels[-1] == "name"
    numeric = labels[1:-1] if has_name else labels[1:]
    if labels[0] != "nodetype" or "avgms" not in numeric:
        return None
    tail = rf"(?:{sep}(.*?))?\s*$" if has_name else r"\s*$"
    row = re.compile(rf"^\s*(.+?){''.join(sep + _CELL for _ in numeric)}{tail}", re.I)

    def parse(line: str):
        m = row.match(line)
        if not m:
            return None
        cells = m.groups()
        fields = {}
        for label, value in zip(numeric, cells[1:]):
            if label in _COLUMNS:
                field = _COLUMNS[label]
                fields[field] = int(float(value)) if field in _INT_COLUMNS else float(value)
        return cells[0], (cells[-1] or "") if has_name else "", fields

    return parse


def _us(ms: float | None) -> float | None:
    return None if ms is None else round(ms * 1000, 3)


def _first_set(*values):
    return next((v for v in values if v is not None), None)


def _single(stat: dict, key: str) -> float | None:
    # A one-run Stat prints only curr=, which is then also its first and its avg.
    return stat.get(key, stat.get("curr") if stat.get("count") == 1 else None)


def parse_benchmark_log(text: str) -> BenchmarkLog:
    fmt = "old"
    section, scope = "run", "primary"  # tables before any section marker are the regular runs'
    tables: dict[str, list] = {"ops": [], "init_ops": [], "by_node_type": []}
    parser = target = None
    in_table = is_op_table = False
    stats: list[dict] = []  # count= lines of the warm-up and main benchmark, in order
    us: dict[str, float] = {}
    ms: dict[str, float] = {}
    session_ms = profiler_avg_us = None
    timing_seen = False

    for raw in text.splitlines():
        if raw.startswith("INFO:"):
            fmt = "litert"
        line = _PREFIX.sub("", raw, count=1).strip()

        title = _TITLE.match(line)
        if title:
            kind = title.group(1).lower()
            is_op_table = kind == "run order"
            key = {("init", "run order"): "init_ops", ("run", "run order"): "ops",
                   ("run", "summary by node type"): "by_node_type"}.get((section, kind))
            # Subgraph and delegate-internal tables repeat time already inside a primary-graph op.
            target = None
            if key and scope == "primary":
                target = tables[key] = []
            in_table, parser = True, None
            continue
        if in_table and parser is None:
            parser = _row_parser(line)
            if parser:
                continue
            in_table = False
        if parser:
            row = parser(line)
            if row:
                if target is not None:
                    node_type, name, fields = row
                    if is_op_table:
                        target.append(OpRow(name, node_type, fields["avg_ms"], fields.get("first_ms"),
                                            fields.get("start_ms"), fields.get("pct"),
                                            fields.get("mem_kb"), fields.get("times_called")))
                    else:
                        target.append(NodeTypeRow(node_type, fields.get("count"), fields["avg_ms"],
                                                  fields.get("pct"), fields.get("times_called")))
                continue
            parser, in_table = None, False

        if "Profiling Info for Benchmark Initialization" in line:
            section, scope = "init", "primary"
        elif "Operator-wise Profiling Info for Regular Benchmark Runs" in line:
            section, scope = "run", "primary"
        if line.startswith("Primary graph"):
            scope = "primary"
        elif line.startswith(("Subgraph (index:", "Delegate internal")) and "Timings" not in line:
            scope = "other"

        if m := _STAT.match(line):
            timing_seen = True
            stat = {k: float(v) for k, v in _PAIR.findall(m.group(3))}
            stat["count"] = int(m.group(2))
            if not m.group(1):
                stats.append(stat)
            elif section == "run" and scope == "primary":
                profiler_avg_us = _single(stat, "avg")
        elif m := _US_LINE.search(line):
            timing_seen = True
            us = {k.lower(): float(v) for k, v in _US_PAIR.findall(m.group(1))}
        elif m := _MS_LINE.match(line):
            ms[m.group(1).lower()] = float(m.group(2))
            timing_seen = timing_seen or m.group(1) == "Inference (avg)"
        elif m := _SESSION.search(line):
            session_ms = float(m.group(1))

    if not (timing_seen or any(tables.values())):
        raise BenchmarkLogError("not a benchmark_model log: no timing line and no operator table found")

    with_avg = [i for i, stat in enumerate(stats) if "avg" in stat]
    main = stats[with_avg[-1]] if with_avg else {}
    # The stat line just before the main benchmark's is its warm-up.
    warmup = stats[with_avg[-1] - 1] if with_avg and with_avg[-1] > 0 else {}
    return BenchmarkLog(
        fmt=fmt,
        # LiteRT rounds its BENCHMARK RESULTS to 0.01 ms, so the count= line (in us) wins there.
        avg_us=_first_set(us.get("inference (avg)"), main.get("avg"), _us(ms.get("inference (avg)")),
                          us.get("no stats"), us.get("inference")),
        median_us=main.get("median"),
        std_us=main.get("std"),
        min_us=main.get("min"),
        max_us=main.get("max"),
        count=main.get("count"),
        init_us=_first_set(us.get("init"), _us(session_ms), _us(ms.get("model initialization"))),
        first_us=_first_set(us.get("first inference"), _single(warmup, "first"),
                            _us(ms.get("warmup (first)"))),
        warmup_avg_us=_first_set(us.get("warmup (avg)"), us.get("warmup"), _single(warmup, "avg"),
                                 _us(ms.get("warmup (avg)"))),
        profiler_avg_us=profiler_avg_us,
        ops=tuple(tables["ops"]),
        init_ops=tuple(tables["init_ops"]),
        by_node_type=tuple(tables["by_node_type"]),
    )
