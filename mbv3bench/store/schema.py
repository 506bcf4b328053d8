"""The store's one schema: every table as (column, kind) pairs, written as each backend's DDL from
this one description, and a Result as a measurements row and back. Additive: a column added here is
added to older stores by writers; readers take what a store has, and a column it lacks reads as
empty."""
from __future__ import annotations

import json

from ..core.results import LayerTime, Latency, Result

# 1: every store before the version was recorded; 2: the meta table, indexes on measurement ids,
# PostgreSQL. A store of a newer version keeps its number when this one writes into it.
SCHEMA_VERSION = 2


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False)


def _unjson(text, empty):
    return json.loads(text) if text else empty


# The measurements table: (column, kind), written and read from this one list.
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

# Kinds: TEXT, INTEGER, REAL; ID is the row's own number (given by the store), KEY a text primary key.
# The order is the order a copy writes them in (a measurement after its run, its rows after it).
TABLES: dict[str, list[tuple[str, str]]] = {
    "runs": [("id", "ID"), ("started_at", "REAL"), ("user", "TEXT"), ("host", "TEXT"), ("git_rev", "TEXT"),
             ("versions", "TEXT"), ("argv", "TEXT")],
    "artifacts": [("sha256", "KEY"), ("variant", "TEXT"), ("format", "TEXT"), ("path", "TEXT"), ("size", "INTEGER"),
                  ("exporter", "TEXT"), ("max_abs_err", "REAL"), ("created_at", "REAL")],
    "measurements": [("id", "ID"), ("run_id", "INTEGER"), ("key", "TEXT"), ("created_at", "REAL"),
                     *MEASUREMENT_COLUMNS],
    "samples": [("measurement_id", "INTEGER"), ("idx", "INTEGER"), ("ms", "REAL")],
    "layers": [("measurement_id", "INTEGER"), ("idx", "INTEGER"), ("name", "TEXT"), ("op", "TEXT"), ("ms", "REAL"),
               ("phase", "TEXT")],
    "meta": [("name", "KEY"), ("value", "TEXT")],
    "calibrations": [("device", "TEXT"), ("kind", "TEXT"), ("value", "REAL"), ("unit", "TEXT"), ("detail", "TEXT"),
                     ("created_at", "REAL")],
}
INDEXES = {"measurements_key": ("measurements", "key, status"),
           "samples_measurement": ("samples", "measurement_id"),
           "layers_measurement": ("layers", "measurement_id")}


def quoted(name: str) -> str:
    """An identifier as both backends take it, whatever it is (`user` is reserved in PostgreSQL)."""
    return f'"{name}"'


def create_table(table: str, types: dict[str, str]) -> str:
    cols = ", ".join(f"{quoted(c)} {types[kind]}" for c, kind in TABLES[table])
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols})"


def add_column(table: str, column: str, kind: str, types: dict[str, str]) -> str:
    return f"ALTER TABLE {table} ADD COLUMN {quoted(column)} {types[kind]}"


# the data tables: what a copy copies and what info counts
DATA_TABLES = [t for t in TABLES if t != "meta"]
RECORD_VERSION = ("INSERT INTO meta (name, value) VALUES ('schema_version', ?) ON CONFLICT (name) DO UPDATE"
                  " SET value = excluded.value WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)")


def create_indexes() -> list[str]:
    return [f"CREATE INDEX IF NOT EXISTS {name} ON {table}({cols})" for name, (table, cols) in INDEXES.items()]


def row_of(r: Result) -> dict:
    """A Result as its measurements row (without run_id, key, created_at); a non-finite number raises ValueError."""
    row = {c: getattr(r, c) for c, _ in MEASUREMENT_COLUMNS if hasattr(r, c) and c not in _JSON_FIELDS}
    row.update({c: _json(getattr(r, c)) for c in _JSON_FIELDS})
    row.update({f"{k}_ms": getattr(r.latency, k) for k in _LAT})
    row["ci_lo_ms"], row["ci_hi_ms"] = r.latency.ci95
    row["noisy"] = int(r.noisy)
    return row


def result_of(row: dict, layers: list[LayerTime], init_layers: list[LayerTime], samples: list[float]) -> Result:
    """A stored row as a Result; columns an older store lacks read as None (a statistic as "median",
    what every result was headlined by before it was recorded)."""
    get = row.get
    latency = Latency(**{k: get(f"{k}_ms") for k in _LAT}, ci95=(get("ci_lo_ms"), get("ci_hi_ms")))
    return Result(
        **{c: get(c) for c, _ in MEASUREMENT_COLUMNS if c in Result.__dataclass_fields__ and c not in _JSON_FIELDS
           and c not in ("noisy", "statistic")}, statistic=get("statistic") or "median",
        **{c: _unjson(get(c), empty) for c, empty in _JSON_FIELDS.items()},
        latency=latency, noisy=bool(get("noisy")), per_layer=layers, init_layers=init_layers, samples_ms=samples,
        id=get("id"), created_at=get("created_at"))
