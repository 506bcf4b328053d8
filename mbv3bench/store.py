"""The results store: one SQLite file, the user's data. A measurement, its samples and its layers are
committed in one transaction the moment it completes, so an interrupted run keeps everything it
finished.

Tables: runs (who, when, git rev, tool versions), artifacts (variant, format, sha256, exporter
versions), measurements (one Result: the columns below), samples (every timed run), layers
(per-layer times of the run, and the initialisation rows of an ingested log), calibrations.

Commands that only read open the file read-only and never change it (no schema, no migration: a
column an older file lacks reads as empty); on a read-only filesystem, where SQLite cannot make the
WAL's -shm file, they read it as immutable. Writers add what an older file lacks, column by column,
and name every column they insert, so a file a newer version wrote (with more columns) still works.
"""
from __future__ import annotations

import errno
import getpass
import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .core.errors import UserError, one_line
from .core.results import LayerTime, Latency, Result

DEFAULT_DB = Path("reports/results.sqlite")
BUSY_TIMEOUT_S = 30.0          # how long a write waits for another process's transaction
TIMEOUT_ENV = "MBV3BENCH_DB_TIMEOUT"


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


def _recorded(text: str | None) -> dict:
    """A run's recorded versions; what an older or damaged row holds is only not known."""
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


class StoreError(UserError):
    """The store cannot do what was asked (read-only, full, locked, permission denied, damaged):
    one line saying which, by the error's real cause."""


# The cause of a failure, by backend: SQLite's primary result codes and the OS's errno. Another
# backend adds its own table here; the messages below serve them all.
_SQLITE_CAUSES = {sqlite3.SQLITE_READONLY: "read-only", sqlite3.SQLITE_FULL: "full", sqlite3.SQLITE_BUSY: "locked",
                  sqlite3.SQLITE_LOCKED: "locked", sqlite3.SQLITE_PERM: "permission", sqlite3.SQLITE_AUTH: "permission",
                  sqlite3.SQLITE_CORRUPT: "damaged", sqlite3.SQLITE_NOTADB: "damaged",
                  sqlite3.SQLITE_CANTOPEN: "cannot open"}
_ERRNO_CAUSES = {errno.EROFS: "read-only", errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EACCES: "permission",
                 errno.EPERM: "permission"}


def _filesystem(path: Path) -> os.statvfs_result | None:
    """The filesystem holding `path` (or its nearest existing folder)."""
    for p in (path, *path.absolute().parents):
        try:
            return os.statvfs(p)
        except OSError:
            continue
    return None


def _read_only_fs(path: Path) -> bool:
    fs = _filesystem(path)
    return fs is not None and bool(fs.f_flag & os.ST_RDONLY)


def _cause(e: Exception, path: Path) -> str | None:
    if isinstance(e, sqlite3.Error):
        code = getattr(e, "sqlite_errorcode", None)
        cause = _SQLITE_CAUSES.get(code & 0xFF) if code is not None else None
    else:
        cause = _ERRNO_CAUSES.get(getattr(e, "errno", None))
    if cause not in ("cannot open", "permission", None):
        return cause
    # SQLite says "unable to open" for a file it cannot create or write beside (-wal, -shm), and
    # "disk I/O error" for a -shm it cannot grow: the filesystem tells which
    fs = _filesystem(path)
    if fs is not None and fs.f_flag & os.ST_RDONLY:
        return "read-only"
    if fs is not None and fs.f_bavail == 0:
        return "full"
    return cause


def _damaged(path: Path, why: str) -> StoreError:
    return StoreError(f"results store {path} is damaged ({why}); keep a copy, then recover what it holds with "
                      f"`sqlite3 {path} .recover | sqlite3 recovered.sqlite`, or pass --db NEW_FILE")


def store_error(path: Path, e: Exception, timeout: float = BUSY_TIMEOUT_S) -> StoreError:
    """The one line for a store failure, saying what happened rather than guessing damage."""
    detail = one_line(e, 120)
    cause = _cause(e, path)
    if cause == "damaged":
        return _damaged(path, detail)
    if cause == "read-only":
        where = "is on a read-only filesystem" if _read_only_fs(path) else "is read-only (or its folder is)"
        return StoreError(f"results store {path} {where} ({detail}); reading commands still read it; "
                          "pass --db a writable file to store results")
    if cause == "full":
        return StoreError(f"results store {path}: the disk is full ({detail}); free space or pass --db a file "
                          "on another disk")
    if cause == "locked":
        return StoreError(f"results store {path} is locked by another process (waited {timeout:g} s, "
                          f"${TIMEOUT_ENV}; {detail}); try again when it finishes")
    if cause == "permission":
        return StoreError(f"results store {path}: permission denied ({detail})")
    return StoreError(f"cannot use results store {path}: {detail}")


def busy_timeout() -> float:
    """Seconds a store waits for another process's write ($MBV3BENCH_DB_TIMEOUT, default 30)."""
    text = os.environ.get(TIMEOUT_ENV)
    if text is None:
        return BUSY_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        from .core.errors import shown

        raise UserError(f"${TIMEOUT_ENV} is {shown(text)}; allowed: seconds from 0 to 86400")
    return value


@dataclass(frozen=True)
class StoredArtifact:
    """A measured file as the artifacts table keeps it: what it is, where it was, what made it."""
    sha256: str
    variant: str
    format: str
    path: Path
    exporter: dict | None = None     # the exporters' versions; None for a file this tool did not build
    max_abs_err: float | None = None

    def row(self) -> dict:
        try:
            size = self.path.stat().st_size
        except OSError:
            size = None
        return {"sha256": self.sha256, "variant": self.variant, "format": self.format, "path": str(self.path),
                "size": size, "exporter": json.dumps(self.exporter), "max_abs_err": self.max_abs_err,
                "created_at": time.time()}


class Store:
    """`Store(path)` for commands that write; `Store(path, readonly=True)` for those that only read:
    the file is opened read-only and a missing file reads as an empty store, without creating it."""

    def __init__(self, path: Path | str = DEFAULT_DB, *, readonly: bool = False):
        self.path, self.readonly, self.timeout = Path(path), readonly, busy_timeout()
        try:
            self._open()
        except BaseException:
            if getattr(self, "db", None) is not None:
                self.db.close()   # a failed open holds no file (a read-only mount stays unmountable)
            raise

    def _open(self) -> None:
        with self._failing_as_store_error():
            if self.readonly:
                self.db = self._open_readonly()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, isolation_level=None, timeout=self.timeout)
            self._check()
            if not self.readonly:
                self._create()
                self.db.execute("PRAGMA journal_mode=WAL")
            self.db.row_factory = sqlite3.Row
            self._columns = {t: self._table_columns(t) for t in ("measurements", "layers", "samples")}

    @contextmanager
    def _failing_as_store_error(self):
        """Every failure of the backend or the filesystem becomes one StoreError naming its cause."""
        try:
            yield
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise   # a bug in the caller (a value SQLite cannot bind), not the store's state
        except (OSError, sqlite3.Error) as e:
            db = getattr(self, "db", None)
            if db is not None and db.in_transaction:   # a failed COMMIT leaves it open: nothing half-written
                try:
                    db.rollback()
                except sqlite3.Error:
                    pass
            raise store_error(self.path, e, self.timeout) from None

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.exists():
            self.db = sqlite3.connect(":memory:", isolation_level=None)
            self._create()
            return self.db
        if not self.path.is_file():
            raise UserError(f"results store {self.path} is not a file")
        uri = self.path.resolve().as_uri()
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=self.timeout)
        try:
            db.execute("PRAGMA schema_version").fetchone()
            return db
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
                raise
            db.close()
        # A WAL file needs its -shm beside it, which a read-only folder cannot take. Nobody can
        # write there either, so reading it as immutable is safe; only a leftover -wal is not read.
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.is_file() and wal.stat().st_size:
            sys.stderr.write(f"note: reading {self.path} without its write-ahead log {wal.name} "
                             "(it cannot be opened here): the latest results in it are not shown\n")
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)

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
        with self._failing_as_store_error():
            return self._insert("runs", {"started_at": time.time(), "user": getpass.getuser(),
                                     "host": socket.gethostname(), "git_rev": git_rev(),
                                         "versions": json.dumps(versions), "argv": json.dumps(sys.argv)})

    def has(self, key: str) -> bool:
        return bool(self._query("SELECT 1 FROM measurements WHERE key=? AND status='ok'", (key,)))

    def add_measurement(self, run_id: int, key: str, result: Result, artifact: StoredArtifact | None = None) -> int:
        """The result with its samples, its layers and the artifact it measured, in one transaction, or nothing."""
        try:
            row = {"run_id": run_id, "key": key, "created_at": time.time(), **_row_of(result)}
        except ValueError as e:  # a non-finite number: refused before anything is written
            raise UserError(f"refusing to store a non-finite number for {result.variant}: {e}") from None
        with self._failing_as_store_error(), self.db:
            self.db.execute("BEGIN IMMEDIATE")   # wait for another writer here, not halfway through
            if artifact is not None:
                self.db.execute("DELETE FROM artifacts WHERE sha256=?", (artifact.sha256,))
                self._insert("artifacts", artifact.row())
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

    def runs_of(self, ids: list[int]) -> dict[int, dict]:
        """measurement id -> what its run recorded (tool versions, the device as described then)."""
        rows = self._query(f"SELECT m.id, r.versions FROM measurements m JOIN runs r ON r.id = m.run_id "
                           f"WHERE m.id IN ({', '.join('?' * len(ids))})", list(ids))
        return {row["id"]: _recorded(row["versions"]) for row in rows}

    def _query(self, sql: str, args=()) -> list[dict]:
        with self._failing_as_store_error():
            return [dict(r) for r in self.db.execute(sql, args).fetchall()]

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
        with self._failing_as_store_error():
            self._insert("calibrations", {"device": device, "kind": kind, "value": value, "unit": unit,
                                          "detail": json.dumps(detail), "created_at": time.time()})

    def calibration(self, device: str, kind: str) -> dict | None:
        rows = self._query("SELECT * FROM calibrations WHERE device=? AND kind=? ORDER BY created_at DESC LIMIT 1",
                           (device, kind))
        return rows[0] if rows else None
