"""The results store: one SQLite file, the user's data. A measurement, its samples and its layers are
committed in one transaction the moment it completes, so an interrupted run keeps everything it
finished.

Tables: runs (who, when, git rev, tool versions), artifacts (variant, format, sha256, exporter
versions), measurements (one Result: the columns below), samples (every timed run), layers
(per-layer times of the run, and the initialisation rows of an ingested log), calibrations.

Commands that only read open the file read-only and never change it (no schema, no migration: a
column an older file lacks reads as empty). Writers add what an older file lacks, column by column,
and name every column they insert, so a file a newer version wrote (with more columns) still works.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from .core.errors import UserError
from .core.results import LayerTime, Latency, Result

DEFAULT_DB = Path("reports/results.sqlite")


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False)


def _unjson(text, empty):
    return json.loads(text) if text else empty


# The measurements table: (column, SQL type, value from a Result, Result field(s) from the value).
# Written and read from this one list; a column added here is added to older files by writers.
_LAT = ("median", "mean", "std", "p10", "p90", "min", "max", "value")
MEASUREMENT_COLUMNS = [
    ("variant", "TEXT"), ("format", "TEXT"), ("artifact_sha256", "TEXT"), ("runtime", "TEXT"),
    ("device", "TEXT"), ("threads", "INTEGER"), ("core", "INTEGER"), ("settings", "TEXT"), ("status", "TEXT"),
    ("error", "TEXT"), ("n", "INTEGER"), *[(f"{k}_ms", "REAL") for k in _LAT], ("ci_lo_ms", "REAL"),
    ("ci_hi_ms", "REAL"), ("noisy", "INTEGER"), ("noisy_reason", "TEXT"), ("per_layer_sum_ms", "REAL"),
    ("madds", "INTEGER"), ("params", "INTEGER"), ("device_state", "TEXT"), ("profiler", "TEXT"),
    ("process_medians_ms", "TEXT"), ("notes", "TEXT"), ("per_layer_grouping", "TEXT"), ("blocks_ms", "TEXT"),
    ("ratios", "TEXT"), ("drift_pct", "REAL"), ("rounds", "TEXT"), ("instructions", "TEXT"), ("statistic", "TEXT"),
]
_JSON_FIELDS = {"settings": {}, "device_state": {}, "profiler": None, "process_medians_ms": None, "notes": [],
                "per_layer_grouping": None, "blocks_ms": None, "ratios": [], "rounds": None, "instructions": None}


def _row_of(r: Result) -> dict:
    row = {c: getattr(r, c) for c, _ in MEASUREMENT_COLUMNS if hasattr(r, c) and c not in _JSON_FIELDS}
    row.update({c: _json(getattr(r, c)) for c in _JSON_FIELDS})
    row.update({f"{k}_ms": getattr(r.latency, k) for k in _LAT})
    row["ci_lo_ms"], row["ci_hi_ms"] = r.latency.ci95
    row["noisy"] = int(r.noisy)
    return row


def _result_of(row: dict, layers: list[LayerTime], init_layers: list[LayerTime], samples: list[float]) -> Result:
    """A stored row as a Result; columns an older file lacks read as None (a statistic as "median",
    what every result was headlined by before it was recorded)."""
    get = row.get
    latency = Latency(**{k: get(f"{k}_ms") for k in _LAT}, ci95=(get("ci_lo_ms"), get("ci_hi_ms")))
    return Result(
        **{c: get(c) for c, _ in MEASUREMENT_COLUMNS if c in Result.__dataclass_fields__ and c not in _JSON_FIELDS
           and c not in ("noisy", "statistic")}, statistic=get("statistic") or "median",
        **{c: _unjson(get(c), empty) for c, empty in _JSON_FIELDS.items()},
        latency=latency, noisy=bool(get("noisy")), per_layer=layers, init_layers=init_layers, samples_ms=samples,
        id=get("id"), created_at=get("created_at"))


SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, started_at REAL, user TEXT, host TEXT, git_rev TEXT, versions TEXT, argv TEXT);
CREATE TABLE IF NOT EXISTS artifacts (
  sha256 TEXT PRIMARY KEY, variant TEXT, format TEXT, path TEXT, size INTEGER, exporter TEXT,
  max_abs_err REAL, created_at REAL);
CREATE TABLE IF NOT EXISTS measurements (
  id INTEGER PRIMARY KEY, run_id INTEGER REFERENCES runs(id), key TEXT, created_at REAL);
CREATE TABLE IF NOT EXISTS samples (
  measurement_id INTEGER REFERENCES measurements(id), idx INTEGER, ms REAL);
CREATE TABLE IF NOT EXISTS layers (
  measurement_id INTEGER REFERENCES measurements(id), idx INTEGER, name TEXT, op TEXT, ms REAL);
CREATE TABLE IF NOT EXISTS calibrations (
  device TEXT, kind TEXT, value REAL, unit TEXT, detail TEXT, created_at REAL);
"""
# columns added after a table's first version: writers add them to older files
NULL_PHASE = "NULL AS phase"
ADDED_COLUMNS = {"measurements": MEASUREMENT_COLUMNS, "layers": [("phase", "TEXT")]}


def measurement_key(variant: str, artifact_sha256: str, runtime: str, device: str, settings: dict) -> str:
    """What makes two measurements the same for --resume."""
    doc = json.dumps([variant, artifact_sha256, runtime, device, settings], sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()


def git_rev(where: Path = Path(__file__).resolve().parent) -> str | None:
    """The git revision of the checkout holding `where` (default: this tool's own)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=where)
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _damaged(path: Path, why: str) -> UserError:
    return UserError(f"results store {path} is damaged ({why}); keep a copy, then recover what it holds with "
                     f"`sqlite3 {path} .recover | sqlite3 recovered.sqlite`, or pass --db NEW_FILE")


class Store:
    """`Store(path)` for commands that write; `Store(path, readonly=True)` for those that only read:
    the file is opened read-only and a missing file reads as an empty store, without creating it."""

    def __init__(self, path: Path | str = DEFAULT_DB, *, readonly: bool = False):
        self.path, self.readonly = Path(path), readonly
        try:
            if readonly:
                self.db = self._open_readonly()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._check()
            if not readonly:
                self._create()
                self.db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as e:
            raise _damaged(self.path, str(e)) from None
        except (OSError, sqlite3.Error) as e:
            raise UserError(f"cannot use results store {self.path}: {e}") from None
        self.db.row_factory = sqlite3.Row
        self._columns = {t: self._table_columns(t) for t in ("measurements", "layers", "samples")}

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.exists():
            self.db = sqlite3.connect(":memory:", isolation_level=None)
            self._create()
            return self.db
        if not self.path.is_file():
            raise UserError(f"results store {self.path} is not a file")
        return sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)

    def _check(self) -> None:
        """A damaged file is found on open, before a command reads nonsense or writes into it."""
        verdict = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise _damaged(self.path, str(verdict).splitlines()[0][:200])
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "measurements" not in tables:
            raise UserError(f"{self.path} is an SQLite file but not a mbv3bench results store "
                            f"(it has tables {', '.join(sorted(tables))[:200]})")

    def _table_columns(self, table: str) -> set[str]:
        return {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}

    def _create(self) -> None:
        self.db.executescript(SCHEMA)
        self._add_missing_columns()
        self.db.execute("CREATE INDEX IF NOT EXISTS measurements_key ON measurements(key, status)")

    def _add_missing_columns(self) -> None:
        added = []
        for table, columns in ADDED_COLUMNS.items():
            have = self._table_columns(table)
            for name, kind in columns:
                if name not in have:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                    added.append(f"{table}.{name}")
        # a brand-new file gains every column; an older one is told what it gained
        if added and len(added) < sum(len(c) for c in ADDED_COLUMNS.values()):
            sys.stderr.write(f"note: upgraded results store {self.path}: added column(s) {', '.join(added)}\n")

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _insert(self, table: str, row: dict) -> int:
        """Names its columns, so a file with more columns than this version knows still takes it."""
        cols = list(row)
        cur = self.db.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                              [row[c] for c in cols])
        return cur.lastrowid

    def start_run(self, versions: dict) -> int:
        return self._insert("runs", {"started_at": time.time(), "user": getpass.getuser(),
                                     "host": socket.gethostname(), "git_rev": git_rev(),
                                     "versions": json.dumps(versions), "argv": json.dumps(sys.argv)})

    def add_artifact(self, sha256: str, variant: str, fmt: str, path: Path, exporter: dict,
                     max_abs_err: float | None) -> None:
        row = {"sha256": sha256, "variant": variant, "format": fmt, "path": str(path), "size": path.stat().st_size,
               "exporter": json.dumps(exporter), "max_abs_err": max_abs_err, "created_at": time.time()}
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM artifacts WHERE sha256=?", (sha256,))
            self._insert("artifacts", row)

    def has(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM measurements WHERE key=? AND status='ok'", (key,)).fetchone() is not None

    def add_measurement(self, run_id: int, key: str, result: Result) -> int:
        """The result with its samples and layers, in one transaction, or nothing."""
        try:
            row = {"run_id": run_id, "key": key, "created_at": time.time(), **_row_of(result)}
        except ValueError as e:  # a non-finite number: refused before anything is written
            raise UserError(f"refusing to store a non-finite number for {result.variant}: {e}") from None
        with self.db:
            self.db.execute("BEGIN")
            mid = self._insert("measurements", row)
            for i, ms in enumerate(result.samples_ms):
                self._insert("samples", {"measurement_id": mid, "idx": i, "ms": ms})
            for phase, rows in (("run", result.per_layer), ("init", result.init_layers)):
                for i, r in enumerate(rows):
                    self._insert("layers", {"measurement_id": mid, "idx": i, "name": r.name, "op": r.op,
                                            "ms": r.ms, "phase": phase})
        return mid

    def measurements(self, *, device: str | None = None, runtime: str | None = None,
                     variant: str | None = None) -> list[Result]:
        """Latest successful measurement per (variant, format, runtime, device, threads, settings)."""
        where, args = ["status='ok'"], []
        for col, val in (("device", device), ("runtime", runtime), ("variant", variant)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        rows = self._query(
            f"SELECT * FROM measurements WHERE {' AND '.join(where)} AND id IN (SELECT MAX(id) FROM measurements"
            " WHERE status='ok' GROUP BY variant, format, runtime, device, threads, settings) ORDER BY id", args)
        return [self._result(r) for r in rows]

    def measurement(self, mid: int) -> Result | None:
        rows = self._query("SELECT * FROM measurements WHERE id=?", (mid,))
        return self._result(rows[0]) if rows else None

    def measurement_by_key(self, key: str) -> Result:
        rows = self._query("SELECT * FROM measurements WHERE key=? AND status='ok' ORDER BY id DESC LIMIT 1", (key,))
        return self._result(rows[0])

    def _query(self, sql: str, args=()) -> list[dict]:
        try:
            return [dict(r) for r in self.db.execute(sql, args).fetchall()]
        except sqlite3.DatabaseError as e:
            raise _damaged(self.path, str(e)) from None

    def _result(self, row: dict) -> Result:
        # a table an older file lacks (read-only, so not created) holds nothing
        layers = self._query(
            f"SELECT name, op, ms, {'phase' if 'phase' in self._columns['layers'] else NULL_PHASE} FROM layers"
            " WHERE measurement_id=? ORDER BY idx", (row["id"],)) if self._columns["layers"] else []
        by_phase: dict[str, list[LayerTime]] = {"run": [], "init": []}
        for r in layers:
            by_phase.setdefault(r["phase"] or "run", []).append(LayerTime(r["name"], r["op"], r["ms"]))
        samples = [r["ms"] for r in self._query("SELECT ms FROM samples WHERE measurement_id=? ORDER BY idx",
                                                 (row["id"],))] if self._columns["samples"] else []
        return _result_of(row, by_phase["run"], by_phase["init"], samples)

    def add_calibration(self, device: str, kind: str, value: float, unit: str, detail: dict) -> None:
        self._insert("calibrations", {"device": device, "kind": kind, "value": value, "unit": unit,
                                      "detail": json.dumps(detail), "created_at": time.time()})

    def calibration(self, device: str, kind: str) -> dict | None:
        rows = self._query("SELECT * FROM calibrations WHERE device=? AND kind=? ORDER BY created_at DESC LIMIT 1",
                           (device, kind))
        return rows[0] if rows else None
