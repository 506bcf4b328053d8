"""The results store: one SQLite file. A measurement, its samples and its layers are committed in
one transaction the moment it completes, so an interrupted run keeps everything it finished.

Tables: runs (who, when, git rev, tool versions), artifacts (variant, format, sha256, exporter
versions), measurements (variant, runtime, device, threads, core, settings, statistics, device
state), samples (every timed run), layers (per-layer timings), calibrations (per-device peaks).
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

DEFAULT_DB = Path("reports/results.sqlite")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, started_at REAL, user TEXT, host TEXT, git_rev TEXT, versions TEXT, argv TEXT);
CREATE TABLE IF NOT EXISTS artifacts (
  sha256 TEXT PRIMARY KEY, variant TEXT, format TEXT, path TEXT, size INTEGER, exporter TEXT,
  max_abs_err REAL, created_at REAL);
CREATE TABLE IF NOT EXISTS measurements (
  id INTEGER PRIMARY KEY, run_id INTEGER REFERENCES runs(id), key TEXT, created_at REAL,
  variant TEXT, format TEXT, artifact_sha256 TEXT, runtime TEXT, device TEXT, threads INTEGER, core INTEGER,
  settings TEXT, status TEXT, error TEXT,
  n INTEGER, median_ms REAL, mean_ms REAL, std_ms REAL, p10_ms REAL, p90_ms REAL, ci_lo_ms REAL, ci_hi_ms REAL,
  min_ms REAL, max_ms REAL, noisy INTEGER, noisy_reason TEXT, per_layer_sum_ms REAL, madds INTEGER, params INTEGER, device_state TEXT);
CREATE INDEX IF NOT EXISTS measurements_key ON measurements(key, status);
CREATE TABLE IF NOT EXISTS samples (
  measurement_id INTEGER REFERENCES measurements(id), idx INTEGER, ms REAL);
CREATE TABLE IF NOT EXISTS layers (
  measurement_id INTEGER REFERENCES measurements(id), idx INTEGER, name TEXT, op TEXT, ms REAL);
CREATE TABLE IF NOT EXISTS calibrations (
  device TEXT, kind TEXT, value REAL, unit TEXT, detail TEXT, created_at REAL);
"""


def measurement_key(variant: str, artifact_sha256: str, runtime: str, device: str, settings: dict) -> str:
    """What makes two measurements the same for --resume."""
    doc = json.dumps([variant, artifact_sha256, runtime, device, settings], sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()


def _git_rev() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


class Store:
    def __init__(self, path: Path | str = DEFAULT_DB):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.executescript(SCHEMA)
            self._migrate()
            self.db.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as e:
            raise UserError(f"cannot use results store {self.path}: {e}") from None
        self.db.row_factory = sqlite3.Row

    def _migrate(self) -> None:
        """Stores written before min/max were kept gain the columns (left null for old rows)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(measurements)")}
        for column in ("min_ms", "max_ms"):
            if column not in have:
                self.db.execute(f"ALTER TABLE measurements ADD COLUMN {column} REAL")

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def start_run(self, versions: dict) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (started_at, user, host, git_rev, versions, argv) VALUES (?,?,?,?,?,?)",
            (time.time(), getpass.getuser(), socket.gethostname(), _git_rev(), json.dumps(versions),
             json.dumps(sys.argv)))
        return cur.lastrowid

    def add_artifact(self, sha256: str, variant: str, fmt: str, path: Path, exporter: dict,
                     max_abs_err: float | None) -> None:
        self.db.execute("INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?,?,?,?,?)",
                        (sha256, variant, fmt, str(path), path.stat().st_size, json.dumps(exporter),
                         max_abs_err, time.time()))

    def has(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM measurements WHERE key=? AND status='ok'", (key,)).fetchone() is not None

    def add_measurement(self, run_id: int, key: str, result: dict) -> int:
        """result: one entry of the run JSON's `results`, plus settings, artifact and device state."""
        lat = result.get("latency_ms") or {}
        ci = lat.get("ci95") or [None, None]
        with self.db:  # one transaction: the measurement with its samples and layers, or nothing
            self.db.execute("BEGIN")
            cur = self.db.execute(
                "INSERT INTO measurements (run_id, key, created_at, variant, format, artifact_sha256, runtime, device,"
                " threads, core, settings, status, error, n, median_ms, mean_ms, std_ms, p10_ms, p90_ms, ci_lo_ms,"
                " ci_hi_ms, min_ms, max_ms, noisy, noisy_reason, per_layer_sum_ms, madds, params, device_state)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, key, time.time(), result["variant"], result.get("format"), result.get("artifact_sha256"),
                 result["runtime"], result["device"], result.get("threads"), result.get("core"),
                 json.dumps(result.get("settings", {}), sort_keys=True), result.get("status", "ok"),
                 result.get("error"), result.get("n"), lat.get("median"), lat.get("mean"), lat.get("std"),
                 lat.get("p10"), lat.get("p90"), ci[0], ci[1], lat.get("min"), lat.get("max"),
                 int(bool(result.get("noisy"))),
                 result.get("noisy_reason"), result.get("per_layer_sum_ms"), result.get("madds"),
                 result.get("params"), json.dumps(result.get("device_state", {}))))
            mid = cur.lastrowid
            self.db.executemany("INSERT INTO samples VALUES (?,?,?)",
                                [(mid, i, ms) for i, ms in enumerate(result.get("samples_ms", []))])
            self.db.executemany("INSERT INTO layers VALUES (?,?,?,?,?)",
                                [(mid, i, r["name"], r["op"], r["ms"]) for i, r in enumerate(result.get("per_layer", []))])
        return mid

    def measurements(self, *, device: str | None = None, runtime: str | None = None,
                     variant: str | None = None) -> list[dict]:
        """Latest successful measurement per (variant, format, runtime, device, threads), as run-JSON results."""
        where, args = ["status='ok'"], []
        for col, val in (("device", device), ("runtime", runtime), ("variant", variant)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        rows = self.db.execute(
            f"SELECT * FROM measurements WHERE {' AND '.join(where)} AND id IN (SELECT MAX(id) FROM measurements"
            " WHERE status='ok' GROUP BY variant, format, runtime, device, threads, settings) ORDER BY id", args).fetchall()
        return [self._result(r) for r in rows]

    def measurements_by_key(self, key: str) -> dict:
        r = self.db.execute("SELECT * FROM measurements WHERE key=? AND status='ok' ORDER BY id DESC LIMIT 1",
                            (key,)).fetchone()
        return self._result(r)

    def _result(self, r: sqlite3.Row) -> dict:
        layers = self.db.execute("SELECT name, op, ms FROM layers WHERE measurement_id=? ORDER BY idx", (r["id"],))
        return {
            "id": r["id"], "variant": r["variant"], "runtime": r["runtime"], "format": r["format"],
            "device": r["device"], "threads": r["threads"], "core": r["core"],
            "settings": json.loads(r["settings"] or "{}"),
            "latency_ms": {"median": r["median_ms"], "mean": r["mean_ms"], "std": r["std_ms"], "p10": r["p10_ms"],
                           "p90": r["p90_ms"], "ci95": [r["ci_lo_ms"], r["ci_hi_ms"]], "min": r["min_ms"],
                           "max": r["max_ms"]},
            "n": r["n"], "noisy": bool(r["noisy"]), "noisy_reason": r["noisy_reason"],
            "per_layer": [dict(x) for x in layers], "per_layer_sum_ms": r["per_layer_sum_ms"],
            "madds": r["madds"], "params": r["params"], "device_state": json.loads(r["device_state"] or "{}"),
            "created_at": r["created_at"],
        }

    def add_calibration(self, device: str, kind: str, value: float, unit: str, detail: dict) -> None:
        self.db.execute("INSERT INTO calibrations VALUES (?,?,?,?,?,?)",
                        (device, kind, value, unit, json.dumps(detail), time.time()))

    def calibration(self, device: str, kind: str) -> dict | None:
        r = self.db.execute("SELECT * FROM calibrations WHERE device=? AND kind=? ORDER BY created_at DESC LIMIT 1",
                            (device, kind)).fetchone()
        return dict(r) if r else None
