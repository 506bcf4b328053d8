"""Parser for the text output of TFLite/LiteRT's `benchmark_model`, across its formats.

Covers the old untagged output (space- or tab-separated op tables with a `[start]` column), the
`INFO:`-prefixed LiteRT output (ms `BENCHMARK RESULTS` block, no `[start]`), CSV op tables
(`--op_profiling_output_mode=csv`), and logs that hold only part of any of these.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...core.errors import shown
from ...core.untrusted import integer, number

# Every pattern here runs in time linear in the line: possessive quantifiers and atomic groups
# where a pattern could otherwise retry each start position (a 128 KB line once took 55 s).
_NUM = r"(?>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
# A % cell is nan when its table's total time is 0; MSVC prints that as -nan(ind).
_CELL = re.compile(rf"({_NUM}|[-+]?nan|[-+]?inf)(?:\(ind\))?%?", re.I)

# "INFO: ", "INFO: [litert/tools/x.h:88] ", glog's "2018-09-10 12:36:37.57: I path/x.cc:361] ".
_LEVEL = re.compile(r"[A-Z]++:[ \t]?")
# the source file starts a word (the look-behind), so each word is scanned once
_SOURCE = re.compile(r"(?<![\w/.-])[\w/.-]+?\.(?:cc|cpp|c|h|hpp):\d++\][ \t]?")
# Stat<T>::OutputToStream: "count=0", "count=1 curr=X" or the full first/curr/min/max/avg/std line.
_STAT = re.compile(rf"^(Timings \(microseconds\):\s*+)?count=(\d++)((?:\s++\w++={_NUM})*+)\s*+$")
_US_LINE = re.compile(r"inference timings in us:(.*)", re.I)
_NAMED = re.compile(rf"([A-Za-z][A-Za-z ()]*+):\s*+({_NUM})")
_MS_UNIT = re.compile(r"\s*+ms\b")
_SESSION = re.compile(rf"Initialized session in\s*+({_NUM})\s*+ms")
_TOKEN = re.compile(r"\S++")

_COLUMNS = {"start": "start_ms", "first": "first_ms", "avgms": "avg_ms", "%": "pct", "avg%": "pct",
            "memkb": "mem_kb", "timescalled": "times_called", "count": "count"}
_INT_COLUMNS = {"times_called", "count"}
MAX_LINE_CHARS = 1 << 16    # the longest real lines are op rows with fused-op names, a few KB
MAX_COUNT = 2 ** 53         # above it a float (JSON, SQLite REAL) no longer holds every integer
MAX_VALUE = 1e12            # in us, ms, KB or %: 11 days in us, beyond any real figure
_SIGNED = {"mem_kb"}        # the memory column is a delta


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


class _BadNumber(ValueError):
    """A number the log cannot mean; the parser adds the line number."""


def _value(name: str, text: str) -> float:
    lo = -MAX_VALUE if name in _SIGNED else 0.0
    try:
        return number(text, lo, MAX_VALUE)
    except ValueError as e:
        raise _BadNumber(f"{name} {e}") from None


def _count(name: str, text: str) -> int:
    try:
        return integer(text, 0, MAX_COUNT - 1)
    except ValueError:
        raise _BadNumber(f"{name} {shown(text)} is not a count below 2**53") from None


def _cell(column: str, text: str):
    if column == "pct" and text.lower().lstrip("+-") == "nan":
        return None     # the % of a table whose total time is 0
    value = _value(column, text)
    return int(value) if column in _INT_COLUMNS else value


def _spans(line: str, csv: bool) -> list[tuple[int, int]]:
    """(start, end) of each field, trimmed, split at commas (csv) or runs of whitespace."""
    if not csv:
        return [m.span() for m in _TOKEN.finditer(line)]
    spans, start = [], 0
    for part in line.split(","):
        end = start + len(part.rstrip())
        spans.append((min(start + len(part) - len(part.lstrip()), end), end))
        start += len(part) + 1
    return spans


def _first_cell(is_cell: list[bool], k: int, has_name: bool) -> int | None:
    """Where the k numeric cells start: after a non-empty node type, and, without a name column, at
    the end. Node types ("Vx Delegate", "Fully Connected (NC, PF32) GEMM") and names ("[a, b]:3")
    hold the separators, so fields cannot be counted: the first run of k cells ends the type."""
    if not has_name:
        first = len(is_cell) - k
        return first if first >= 1 and all(is_cell[first:]) else None
    run = 0
    for j in range(1, len(is_cell)):
        run = run + 1 if is_cell[j] else 0
        if run == k:
            return j - k + 1
    return None


def _row_parser(header: str):
    """A function turning one row of the table headed by `header` into (type, name, fields), or
    None when `header` is not a table header."""
    labels = re.findall(r"\[([^\]]*)\]", header)
    csv = not labels
    labels = [re.sub(r"[\s_]", "", label).lower() for label in labels or header.split(",")]
    has_name = labels[-1] == "name"
    numeric = labels[1:-1] if has_name else labels[1:]
    if labels[0] != "nodetype" or "avgms" not in numeric:
        return None

    def parse(line: str):
        spans = _spans(line, csv)
        cells = [_CELL.fullmatch(line, a, b) for a, b in spans]
        first = _first_cell([c is not None for c in cells], len(numeric), has_name)
        if first is None:
            return None
        after = first + len(numeric)
        name = line[spans[after][0]:spans[-1][1]] if after < len(spans) else ""
        fields = {_COLUMNS[label]: _cell(_COLUMNS[label], c.group(1))
                  for label, c in zip(numeric, cells[first:after]) if label in _COLUMNS}
        return line[spans[0][0]:spans[first - 1][1]], name, fields

    return parse


def _strip_prefix(raw: str) -> str:
    """The line without its log level and source location ("INFO: [x.h:88] ")."""
    line = raw
    if m := _LEVEL.match(line):
        line = line[m.end():]
    # table rows start with a tab or spaces, so only a line starting otherwise carries a file:line
    if line[:1].strip() and (m := _SOURCE.search(line, 1)):
        line = line[m.end():]
    return line.strip()


def _title(line: str) -> str | None:
    """"==== Run Order ====" -> "run order"."""
    if len(line) >= 2 and line[0] == line[-1] == "=":
        return line.strip("=").strip().lower()
    return None


def _us(ms: float | None) -> float | None:
    return None if ms is None else round(ms * 1000, 3)


def _first_set(*values):
    return next((v for v in values if v is not None), None)


def _single(stat: dict, key: str) -> float | None:
    # A one-run Stat prints only curr=, which is then also its first and its avg.
    return stat.get(key, stat.get("curr") if stat.get("count") == 1 else None)


@dataclass
class _Timings:
    """The end-to-end figures met so far, whichever lines carry them."""
    stats: list = field(default_factory=list)   # count= lines of the warm-up and main benchmark, in order
    us: dict = field(default_factory=dict)
    ms: dict = field(default_factory=dict)
    session_ms: float | None = None
    profiler_avg_us: float | None = None
    seen: bool = False

    def read(self, line: str, profiler_counts: bool) -> None:
        if m := _STAT.match(line):
            self.seen = True
            stat = {k: _value(k, v) for k, _, v in (p.partition("=") for p in m.group(3).split())}
            stat["count"] = _count("count", m.group(2))
            if not m.group(1):
                self.stats.append(stat)
            elif profiler_counts:
                self.profiler_avg_us = _single(stat, "avg")
        elif m := _US_LINE.search(line):
            self.seen = True
            self.us = {n.group(1).strip().lower(): _value(n.group(1).strip(), n.group(2))
                       for n in (_NAMED.match(p.strip()) for p in m.group(1).split(",")) if n}
        elif (m := _NAMED.match(line)) and _MS_UNIT.match(line, m.end()):
            self.ms[m.group(1).lower()] = _value(m.group(1), m.group(2))
            self.seen = self.seen or m.group(1) == "Inference (avg)"
        elif m := _SESSION.search(line):
            self.session_ms = _value("session init", m.group(1))


def parse_benchmark_log(text: str) -> BenchmarkLog:
    """The log's figures; a BenchmarkLogError (one line, naming the line) for text that is not a
    log, a line longer than MAX_LINE_CHARS, or a number out of bounds (never inf or nan)."""
    fmt = "old"
    section, scope = "run", "primary"  # tables before any section marker are the regular runs'
    tables: dict[str, list] = {"ops": [], "init_ops": [], "by_node_type": []}
    parser = target = None
    in_table = is_op_table = False
    t = _Timings()

    for number_, raw in enumerate(text.splitlines(), 1):
        if len(raw) > MAX_LINE_CHARS:
            raise BenchmarkLogError(f"line {number_}: {len(raw):,} characters, more than the "
                                    f"{MAX_LINE_CHARS:,} a line may have")
        if raw.startswith("INFO:"):
            fmt = "litert"
        line = _strip_prefix(raw)
        try:
            kind = _title(line)
            if kind is not None:
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
                        target.append(_table_row(row, is_op_table))
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
            t.read(line, section == "run" and scope == "primary")
        except _BadNumber as e:
            raise BenchmarkLogError(f"line {number_}: {e}") from None

    if not (t.seen or any(tables.values())):
        raise BenchmarkLogError("not a benchmark_model log: no timing line and no operator table found")
    return _log(fmt, t, tables)


def _table_row(row, is_op_table: bool):
    node_type, name, f = row
    if is_op_table:
        return OpRow(name, node_type, f["avg_ms"], f.get("first_ms"), f.get("start_ms"), f.get("pct"),
                     f.get("mem_kb"), f.get("times_called"))
    return NodeTypeRow(node_type, f.get("count"), f["avg_ms"], f.get("pct"), f.get("times_called"))


def _log(fmt: str, t: _Timings, tables: dict) -> BenchmarkLog:
    with_avg = [i for i, stat in enumerate(t.stats) if "avg" in stat]
    main = t.stats[with_avg[-1]] if with_avg else {}
    # The stat line just before the main benchmark's is its warm-up.
    warmup = t.stats[with_avg[-1] - 1] if with_avg and with_avg[-1] > 0 else {}
    us, ms = t.us, t.ms
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
        init_us=_first_set(us.get("init"), _us(t.session_ms), _us(ms.get("model initialization"))),
        first_us=_first_set(us.get("first inference"), _single(warmup, "first"),
                            _us(ms.get("warmup (first)"))),
        warmup_avg_us=_first_set(us.get("warmup (avg)"), us.get("warmup"), _single(warmup, "avg"),
                                 _us(ms.get("warmup (avg)"))),
        profiler_avg_us=t.profiler_avg_us,
        ops=tuple(tables["ops"]),
        init_ops=tuple(tables["init_ops"]),
        by_node_type=tuple(tables["by_node_type"]),
    )
