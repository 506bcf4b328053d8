"""The results store: the user's data, in an SQLite file (the default) or a PostgreSQL database a
team shares, through one code path and one schema (schema.py). A measurement, its samples and its
layers are committed in one transaction the moment it completes, so an interrupted run keeps
everything it finished.

Tables: runs (who, when, git rev, tool versions), artifacts (variant, format, sha256, exporter
versions), measurements (one Result), samples (every timed run), layers (per-layer times of the
run, and the initialisation rows of an ingested log), calibrations, meta (the schema version).

Commands that only read open the store read-only and never change it (no schema, no migration: a
column an older store lacks reads as empty, a store without tables as an empty store). Writers add
what an older store lacks, column by column, and name every column they insert, so a store a newer
version wrote (with more columns) still works.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..core.results import LayerTime, Result
from . import schema
from .address import DEFAULT_DB, StoreAddress, store_address
from .errors import busy_timeout

NULL_PHASE = "NULL AS phase"


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


def recorded(text: str | None) -> dict:
    """A run's recorded versions; what an older or damaged row holds is only not known."""
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


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


def _backend(address: StoreAddress, readonly: bool, timeout: float):
    if address.is_postgresql:
        from .postgres import PostgresBackend

        return PostgresBackend(address, readonly=readonly, timeout=timeout)
    from .sqlite import SqliteBackend

    return SqliteBackend(address, readonly=readonly, timeout=timeout)


def _empty():
    """An empty store in memory: what a reader sees of a store that has no tables yet."""
    from .sqlite import SqliteBackend

    return SqliteBackend(StoreAddress(file=Path(":memory:")), readonly=False, timeout=0)


class Store:
    """`Store(DB)` for commands that write; `Store(DB, readonly=True)` for those that only read: the
    store is opened read-only and one without tables (a missing file, an empty database) reads as
    empty, without creating anything. DB is what `--db` takes: a path or a PostgreSQL URL."""

    def __init__(self, db: StoreAddress | Path | str = DEFAULT_DB, *, readonly: bool = False):
        self.address, self.readonly, self.timeout = store_address(db), readonly, busy_timeout()
        self.path = self.address.file
        self.backend = None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        self.backend = _backend(self.address, self.readonly, self.timeout)   # says its own failures
        with self._failing_as_store_error():
            if self.readonly and "measurements" not in self.backend.tables():
                self.backend.close()
                self.backend = _empty()
                self._create(quiet=True)
            elif not self.readonly:
                self._create()
            self._columns = {t: self.backend.columns(t) for t in ("measurements", "layers", "samples")}

    @contextmanager
    def _failing_as_store_error(self):
        """Every failure of the backend or the filesystem becomes one StoreError naming its cause."""
        try:
            yield
        except self.backend.failures as e:
            found = self.backend.failure(e)
            if found is None:
                raise   # a bug in the caller (a value the backend cannot bind), not the store's state
            raise found from None

    def _create(self, quiet: bool = False) -> None:
        """The tables, columns and indexes this version has and the store lacks, in one transaction
        (writers opening a new store at once take turns)."""
        with self.backend.transaction():
            self.backend.lock_schema()
            had = self.backend.tables()
            added = []
            for table, columns in schema.TABLES.items():
                if table not in had:
                    self.backend.query(schema.create_table(table, self.backend.types))
                    continue
                have = self.backend.columns(table)
                for name, kind in columns:
                    if name not in have:
                        self.backend.query(schema.add_column(table, name, kind, self.backend.types))
                        added.append(f"{table}.{name}")
            for statement in schema.create_indexes():
                self.backend.query(statement)
            self.backend.query(schema.RECORD_VERSION, (str(schema.SCHEMA_VERSION),))
        if added and not quiet:
            sys.stderr.write(f"note: upgraded results store {self.address}: added column(s) {', '.join(added)}\n")

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def insert(self, table: str, row: dict, *, returning: str | None = None, on_conflict: str | None = None):
        """Names its columns, so a store with more columns than this version knows still takes it.
        ON_CONFLICT: "KEY" replaces the row with that key, "KEY nothing" keeps the one there."""
        cols = list(row)
        rows = self.backend.query(self._insert_sql(table, cols, returning, on_conflict), [row[c] for c in cols])
        return rows[0][returning] if returning else None

    def insert_many(self, table: str, rows: list[dict]) -> None:
        """Rows with the same columns, in one round trip where the backend can."""
        if rows:
            cols = list(rows[0])
            self.backend.query_many(self._insert_sql(table, cols), [[r[c] for c in cols] for r in rows])

    @staticmethod
    def _insert_sql(table: str, cols: list[str], returning: str | None = None, on_conflict: str | None = None) -> str:
        sql = f"INSERT INTO {table} ({', '.join(map(schema.quoted, cols))}) VALUES ({', '.join('?' * len(cols))})"
        if on_conflict:
            key, *nothing = on_conflict.split()
            sql += f" ON CONFLICT ({key}) DO " + ("NOTHING" if nothing else "UPDATE SET " + ", ".join(
                f"{schema.quoted(c)} = excluded.{schema.quoted(c)}" for c in cols if c != key))
        return sql + (f" RETURNING {returning}" if returning else "")

    @contextmanager
    def transaction(self):
        """What is written inside is committed together, or nothing is."""
        with self._failing_as_store_error(), self.backend.transaction():
            yield

    def size(self) -> int | None:
        """Bytes the store takes: its file, or its database on the server."""
        with self._failing_as_store_error():
            return self.backend.size()

    def columns(self, table: str) -> set[str]:
        with self._failing_as_store_error():
            return self.backend.columns(table)

    def start_run(self, versions: dict) -> int:
        with self._failing_as_store_error():
            return self.insert("runs", {"started_at": time.time(), "user": getpass.getuser(),
                                         "host": socket.gethostname(), "git_rev": git_rev(),
                                         "versions": json.dumps(versions), "argv": json.dumps(sys.argv)},
                               returning="id")

    def has(self, key: str) -> bool:
        return bool(self.query("SELECT 1 FROM measurements WHERE key=? AND status='ok'", (key,)))

    def add_measurement(self, run_id: int, key: str, result: Result, artifact: StoredArtifact | None = None) -> int:
        """The result with its samples, its layers and the artifact it measured, in one transaction, or nothing."""
        try:
            row = {"run_id": run_id, "key": key, "created_at": time.time(), **schema.row_of(result)}
        except ValueError as e:  # a non-finite number: refused before anything is written
            raise UserError(f"refusing to store a non-finite number for {result.variant}: {e}") from None
        with self.transaction():
            if artifact is not None:
                self.insert("artifacts", artifact.row(), on_conflict="sha256")
            mid = self.insert("measurements", row, returning="id")
            self.insert_many("samples", [{"measurement_id": mid, "idx": i, "ms": ms}
                                         for i, ms in enumerate(result.samples_ms)])
            self.insert_many("layers", [{"measurement_id": mid, "idx": i, "name": r.name, "op": r.op, "ms": r.ms,
                                         "phase": phase}
                                        for phase, rows in (("run", result.per_layer), ("init", result.init_layers))
                                        for i, r in enumerate(rows)])
        return mid

    def measurements(self, *, device: str | None = None, runtime: str | None = None,
                     variant: str | None = None, variants: list[str] | None = None,
                     every: bool = False) -> list[Result]:
        """Latest successful measurement per (variant, format, runtime, device, threads, settings), of
        `variants` if given; `every`: all the successful ones (each group of cells measured together
        is one of them)."""
        where, args = self._where(device=device, runtime=runtime, variant=variant)
        if variants is not None:
            where += f" AND variant IN ({', '.join('?' * len(variants))})" if variants else " AND 0=1"
            args += list(variants)
        latest = ("" if every else " AND id IN (SELECT MAX(id) FROM measurements WHERE status='ok' GROUP BY variant, "
                  "format, runtime, device, threads, settings)")
        rows = self.query(f"SELECT * FROM measurements WHERE {where}{latest} ORDER BY id", args)
        return [self._result(r) for r in rows]

    def history(self, variant: str | None, *, device: str | None = None, runtime: str | None = None
                ) -> list[tuple[Result, dict]]:
        """Every successful measurement (of VARIANT), oldest first, with its run (git_rev, started_at, host)."""
        where, args = self._where(device=device, runtime=runtime, variant=variant)
        rows = self.query(f"SELECT * FROM measurements WHERE {where} ORDER BY created_at, id", args)
        runs = self.runs(sorted({r["run_id"] for r in rows if r["run_id"] is not None}))
        return [(self._result(r), runs.get(r["run_id"], {})) for r in rows]

    @staticmethod
    def _where(**equal) -> tuple[str, list]:
        where, args = ["status='ok'"], []
        for col, val in equal.items():
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        return " AND ".join(where), args

    def measurement(self, mid: int) -> Result | None:
        rows = self.query("SELECT * FROM measurements WHERE id=?", (mid,))
        return self._result(rows[0]) if rows else None

    def measurement_by_key(self, key: str) -> Result:
        rows = self.query("SELECT * FROM measurements WHERE key=? AND status='ok' ORDER BY id DESC LIMIT 1", (key,))
        return self._result(rows[0])

    def runs(self, ids: list[int]) -> dict[int, dict]:
        """run id -> its row (started_at, user, host, git_rev, versions)."""
        if not ids:
            return {}
        rows = self.query(f"SELECT * FROM runs WHERE id IN ({', '.join('?' * len(ids))})", list(ids))
        return {row["id"]: row for row in rows}

    def runs_of(self, ids: list[int]) -> dict[int, dict]:
        """measurement id -> what its run recorded (tool versions, the device as described then)."""
        if not ids:
            return {}
        rows = self.query(f"SELECT m.id, r.versions FROM measurements m JOIN runs r ON r.id = m.run_id "
                           f"WHERE m.id IN ({', '.join('?' * len(ids))})", list(ids))
        return {row["id"]: recorded(row["versions"]) for row in rows}

    def query(self, sql: str, args=()) -> list[dict]:
        with self._failing_as_store_error():
            return self.backend.query(sql, args)

    def _result(self, row: dict) -> Result:
        # a table an older store lacks (read-only, so not created) holds nothing
        layers = self.query(
            f"SELECT name, op, ms, {'phase' if 'phase' in self._columns['layers'] else NULL_PHASE} FROM layers"
            " WHERE measurement_id=? ORDER BY idx", (row["id"],)) if self._columns["layers"] else []
        by_phase: dict[str, list[LayerTime]] = {"run": [], "init": []}
        for r in layers:
            by_phase.setdefault(r["phase"] or "run", []).append(LayerTime(r["name"], r["op"], r["ms"]))
        samples = [r["ms"] for r in self.query("SELECT ms FROM samples WHERE measurement_id=? ORDER BY idx",
                                                 (row["id"],))] if self._columns["samples"] else []
        return schema.result_of(row, by_phase["run"], by_phase["init"], samples)

    def add_calibration(self, device: str, kind: str, value: float, unit: str, detail: dict) -> None:
        with self._failing_as_store_error():
            self.insert("calibrations", {"device": device, "kind": kind, "value": value, "unit": unit,
                                          "detail": json.dumps(detail), "created_at": time.time()})

    def calibration(self, device: str, kind: str) -> dict | None:
        rows = self.query("SELECT * FROM calibrations WHERE device=? AND kind=? ORDER BY created_at DESC LIMIT 1",
                           (device, kind))
        return rows[0] if rows else None
