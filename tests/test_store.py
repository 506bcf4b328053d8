import hashlib
import os
import sqlite3
from dataclasses import replace

import pytest

from conftest import raw_sql
from mbv3bench.core.errors import UserError
from mbv3bench.core.results import LayerTime, Latency, Result
from mbv3bench.store import Store, StoreError, measurement_key

OLD_MEASUREMENTS = ("CREATE TABLE measurements (id INTEGER PRIMARY KEY, run_id INTEGER, key TEXT, created_at REAL,"
                    " variant TEXT, format TEXT, artifact_sha256 TEXT, runtime TEXT, device TEXT, threads INTEGER,"
                    " core INTEGER, settings TEXT, status TEXT, error TEXT, n INTEGER, median_ms REAL, mean_ms REAL,"
                    " std_ms REAL, p10_ms REAL, p90_ms REAL, ci_lo_ms REAL, ci_hi_ms REAL, noisy INTEGER,"
                    " noisy_reason TEXT, per_layer_sum_ms REAL, madds INTEGER, params INTEGER, device_state TEXT)")


def _result(variant="mobilenet_v3_small", median=2.0) -> Result:
    """A result with every field set to something other than its default."""
    return Result(
        variant=variant, runtime="litert", format="tflite", device="local", threads=1, core=1,
        latency=Latency(median, median + 0.01, 0.1, 1.9, 2.1, (1.95, 2.05), 1.8, 2.3), n=3, noisy=True,
        noisy_reason="drift", per_layer=[LayerTime("stem", "conv2d 3x3 HS", 0.5)], per_layer_sum_ms=0.5,
        init_layers=[LayerTime("AllocateTensors", "AllocateTensors", 1.5)],
        profiler={"profiled_run_ms": 2.2, "scale": 0.9}, process_medians_ms=[1.9, 2.0, 2.1], madds=1, params=2,
        settings={"threads": 1}, artifact_sha256="abc", device_state={"before": {"core_mhz": 2000.0}},
        notes=["a note"], samples_ms=[1.9, 2.0, 2.1])


def _count(db, table):
    return raw_sql(db, f"SELECT COUNT(*) FROM {table}")[0][0]


def _schema(db) -> set[tuple[str, str]]:
    """(table, column) of every table the store has: what a reader must leave as it was."""
    if db.startswith("postgresql://"):
        return set(raw_sql(db, "SELECT table_name, column_name FROM information_schema.columns"
                               " WHERE table_schema = current_schema()"))
    return set(raw_sql(db, "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p"
                           " WHERE m.type = 'table'"))


def test_a_result_comes_back_whole(store_db):
    with Store(store_db) as store:
        run = store.start_run({"torch": "x"})
        key = measurement_key("mobilenet_v3_small", "abc", "litert", "local", {"threads": 1})
        assert not store.has(key)
        original = _result()
        mid = store.add_measurement(run, key, original)
        assert store.has(key)
        got = store.measurement_by_key(key)
    assert got.id == mid and got.created_at is not None
    assert replace(got, id=None, created_at=None) == original
    assert got.as_resumed().to_json().keys() == original.to_json().keys()


def test_latest_measurement_wins_and_errors_do_not_count(store_db):
    with Store(store_db) as store:
        run = store.start_run({})
        store.add_measurement(run, "k", _result(median=2.0))
        store.add_measurement(run, "k", _result(median=3.0))
        store.add_measurement(run, "k2", replace(_result(), status="error", error="boom"))
        assert [r.latency.median for r in store.measurements()] == [3.0]
        assert not store.has("k2")


def test_key_depends_on_every_part():
    base = ("v", "sha", "litert", "local", {"threads": 1})
    keys = {measurement_key(*base), measurement_key("w", *base[1:]), measurement_key("v", "sha2", *base[2:]),
            measurement_key(*base[:2], "onnxruntime", *base[3:]), measurement_key(*base[:4], {"threads": 2})}
    assert len(keys) == 5


def test_unwritable_store_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot use results store"):
        Store(blocker / "r.sqlite")


def test_a_failed_insert_leaves_nothing_half_written(store_db):
    with Store(store_db) as store:
        run = store.start_run({})
        bad = replace(_result(), per_layer=[LayerTime("stem", "conv", object())])  # not storable mid-transaction
        with pytest.raises(Exception) as e:
            store.add_measurement(run, "k", bad)
        assert not isinstance(e.value, UserError)   # the caller's bug, not said to be the store's state
        assert not store.has("k")
    assert _count(store_db, "measurements") == _count(store_db, "samples") == 0


def test_a_non_finite_number_is_refused_before_writing(store_db):
    with Store(store_db) as store:
        run = store.start_run({})
        with pytest.raises(UserError, match="non-finite"):
            store.add_measurement(run, "k", replace(_result(), profiler={"scale": float("inf")}))
    assert _count(store_db, "measurements") == 0


def test_an_older_store_is_read_as_is_and_gains_columns_only_when_written(store_db, capsys):
    ids = "id SERIAL PRIMARY KEY" if store_db.startswith("postgresql") else "id INTEGER PRIMARY KEY"
    raw_sql(store_db, OLD_MEASUREMENTS.replace("id INTEGER PRIMARY KEY", ids),
            "CREATE TABLE layers (measurement_id INTEGER, idx INTEGER, name TEXT, op TEXT, ms REAL)",
            "INSERT INTO measurements (key, variant, runtime, device, status, median_ms, settings)"
            " VALUES ('k', 'v', 'litert', 'local', 'ok', 2.5, '{}')")
    before = _schema(store_db)
    file_before = hashlib.sha256(open(store_db, "rb").read()).hexdigest() if "://" not in store_db else None
    with Store(store_db, readonly=True) as store:
        (old,) = store.measurements()
    assert old.latency.median == 2.5 and old.latency.max is None and old.notes == []
    assert _schema(store_db) == before
    if file_before:
        assert hashlib.sha256(open(store_db, "rb").read()).hexdigest() == file_before
    with Store(store_db) as store:
        run = store.start_run({})
        store.add_measurement(run, "k2", _result())
        assert store.measurement_by_key("k2").latency.max == 2.3
        assert store.measurement_by_key("k").latency.median == 2.5
    assert "upgraded results store" in capsys.readouterr().err
    assert ("measurements", "max_ms") in _schema(store_db) - before


def test_a_newer_store_with_more_columns_still_takes_results(store_db):
    Store(store_db).close()
    raw_sql(store_db, *(f"ALTER TABLE {table} ADD COLUMN from_the_future TEXT"
                        for table in ("samples", "layers", "measurements", "runs", "artifacts")))
    with Store(store_db) as store:
        mid = store.add_measurement(store.start_run({}), "k", _result())
        assert store.measurement(mid).samples_ms == [1.9, 2.0, 2.1]
    with Store(store_db, readonly=True) as store:
        assert [r.id for r in store.measurements()] == [mid]


def test_a_newer_schema_version_is_kept(store_db):
    Store(store_db).close()
    raw_sql(store_db, "UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    Store(store_db).close()
    assert raw_sql(store_db, "SELECT value FROM meta")[0][0] == "99"


def test_reading_a_store_without_tables_creates_nothing(store_db):
    with Store(store_db, readonly=True) as store:
        assert store.measurements() == [] and store.calibration("local", "peak") is None
    if "://" in store_db:
        assert _schema(store_db) == set()
    else:
        assert not os.path.exists(store_db)


def test_a_reader_cannot_write(store_db):
    """Read-only all the way down: the backend itself refuses, whatever a reading command would try."""
    with Store(store_db) as store:
        store.add_measurement(store.start_run({}), "k", _result())
    with Store(store_db, readonly=True) as store:
        with pytest.raises(StoreError, match="read-only"):
            store.start_run({})
        with pytest.raises(StoreError, match="read-only"):
            store.add_measurement(1, "k2", _result())
    assert _count(store_db, "runs") == 1 and _count(store_db, "measurements") == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other_sqlite"])
def test_a_damaged_store_is_one_line_naming_it(tmp_path, damage):
    path = tmp_path / "r.sqlite"
    with Store(path) as store:
        for i in range(200):
            store.add_measurement(store.start_run({}), f"k{i}", _result())
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a database at all" * 100)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 3])
    else:
        path.unlink()
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE something (x)")
    for readonly in (True, False):
        with pytest.raises(UserError, match=str(path)) as e:
            Store(path, readonly=readonly)
        assert "\n" not in str(e.value)
