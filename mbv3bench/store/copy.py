"""One store into another (`store copy`), and what a store holds (`store info`). A copy adds what
the destination lacks and nothing twice: a row is known by what it is, never by its id (ids are
each store's own): a run by when, where and by whom it started, a measurement by its key and the
moment it was stored, an artifact by its sha256, a calibration by device, kind and moment. Each
measurement goes over with its samples and layers in one transaction, so a copy stopped midway
is continued by copying again."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import schema
from .store import Store

RUN_IDENTITY = ("started_at", "host", "user")
MEASUREMENT_IDENTITY = ("key", "created_at", "variant", "runtime", "device")
CALIBRATION_IDENTITY = ("device", "kind", "created_at")


@dataclass
class Copied:
    """Rows added to the destination, and rows it had already, by table."""
    added: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)

    def count(self, table: str, added: bool, n: int = 1) -> None:
        into = self.added if added else self.present
        into[table] = into.get(table, 0) + n


def _identities(store: Store, table: str, columns: tuple[str, ...], with_id: bool) -> dict:
    have = store.columns(table)
    cols = [c for c in columns if c in have]
    rows = store.query(f"SELECT {', '.join(schema.quoted(c) for c in (['id'] if with_id else []) + cols)} FROM {table}")
    return {tuple(r.get(c) for c in columns): r.get("id") for r in rows}


def _shared(row: dict, columns: set[str], drop: tuple[str, ...] = ()) -> dict:
    """What of ROW the destination has columns for (a newer source's extra columns stay behind)."""
    return {c: v for c, v in row.items() if c in columns and c not in drop}


def copy_store(src: Store, dst: Store) -> Copied:
    done = Copied()
    dst_cols = {t: dst.columns(t) for t in schema.DATA_TABLES}
    src_tables = {t for t in schema.DATA_TABLES if src.columns(t)}
    runs = _identities(dst, "runs", RUN_IDENTITY, with_id=True)
    run_ids: dict[int, int] = {}
    for row in src.query("SELECT * FROM runs ORDER BY id") if "runs" in src_tables else []:
        ident = tuple(row.get(c) for c in RUN_IDENTITY)
        added = ident not in runs
        if added:
            with dst.transaction():
                runs[ident] = dst.insert("runs", _shared(row, dst_cols["runs"], ("id",)), returning="id")
        run_ids[row["id"]] = runs[ident]
        done.count("runs", added)
    _copy_measurements(src, dst, dst_cols, run_ids, done)
    _copy_rows(src, dst, "artifacts", ("sha256",), dst_cols, done, src_tables)
    _copy_rows(src, dst, "calibrations", CALIBRATION_IDENTITY, dst_cols, done, src_tables)
    return done


def _copy_rows(src: Store, dst: Store, table: str, identity: tuple[str, ...], dst_cols: dict, done: Copied,
               src_tables: set[str]) -> None:
    """A table no other row points to, each row whose identity the destination lacks."""
    have = _identities(dst, table, identity, with_id=False)
    for row in src.query(f"SELECT * FROM {table}") if table in src_tables else []:
        ident = tuple(row.get(c) for c in identity)
        added = ident not in have
        if added:
            with dst.transaction():
                dst.insert(table, _shared(row, dst_cols[table]))
            have[ident] = None
        done.count(table, added)


def _copy_measurements(src: Store, dst: Store, dst_cols: dict, run_ids: dict[int, int], done: Copied) -> None:
    have = _identities(dst, "measurements", MEASUREMENT_IDENTITY, with_id=True)
    children = [t for t in ("samples", "layers") if src.columns(t)]
    for row in src.query("SELECT * FROM measurements ORDER BY id"):
        ident = tuple(row.get(c) for c in MEASUREMENT_IDENTITY)
        if ident in have:
            done.count("measurements", False)
            continue
        new = _shared(row, dst_cols["measurements"], ("id",))
        new["run_id"] = run_ids.get(row.get("run_id"))
        with dst.transaction():
            mid = dst.insert("measurements", new, returning="id")
            for table in children:
                rows = src.query(f"SELECT * FROM {table} WHERE measurement_id=? ORDER BY idx", (row["id"],))
                dst.insert_many(table, [{**_shared(r, dst_cols[table]), "measurement_id": mid} for r in rows])
                done.count(table, True, len(rows))
        have[ident] = mid
        done.count("measurements", True)


def store_info(store: Store) -> dict:
    """Counts per device, runtime and variant (successful and failed), rows per table, the schema
    version and the size (bytes: the file, or the database on the server)."""
    cells = store.query("SELECT device, runtime, variant, SUM(CASE WHEN status='ok' THEN 1 ELSE 0 END) AS ok,"
                        " SUM(CASE WHEN status='ok' THEN 0 ELSE 1 END) AS failed FROM measurements"
                        " GROUP BY device, runtime, variant ORDER BY device, runtime, variant")
    tables = {t: store.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"] if store.columns(t) else 0
              for t in schema.DATA_TABLES}
    version = store.query("SELECT value FROM meta WHERE name='schema_version'") if store.columns("meta") else []
    return {"store": str(store.address), "backend": "postgresql" if store.address.is_postgresql else "sqlite",
            "schema_version": int(version[0]["value"]) if version else 1, "size_bytes": store.size(),
            "tables": tables, "cells": [{k: (int(v) if k in ("ok", "failed") else v) for k, v in c.items()}
                                        for c in cells]}
