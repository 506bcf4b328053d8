
import pytest

from mbv3bench.core.errors import UserError
from mbv3bench.store import Store, measurement_key


def _result(variant="mobilenet_v3_small", median=2.0):
    return {"variant": variant, "runtime": "litert", "format": "tflite", "device": "local", "threads": 1,
            "core": 1, "settings": {"threads": 1}, "latency_ms": {"median": median, "mean": median, "std": 0.1,
                                                                 "p10": 1.9, "p90": 2.1, "ci95": [1.95, 2.05]},
            "n": 3, "noisy": False, "samples_ms": [1.9, 2.0, 2.1],
            "per_layer": [{"name": "stem", "op": "conv2d 3x3 HS", "ms": 0.5}], "per_layer_sum_ms": 0.5,
            "madds": 1, "params": 2}


def test_measurement_round_trip_with_samples_and_layers(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        run = store.start_run({"torch": "x"})
        key = measurement_key("mobilenet_v3_small", "abc", "litert", "local", {"threads": 1})
        assert not store.has(key)
        mid = store.add_measurement(run, key, _result())
        assert store.has(key)
        got = store.measurements(device="local")
        assert len(got) == 1 and got[0]["latency_ms"]["median"] == 2.0
        assert got[0]["per_layer"] == [{"name": "stem", "op": "conv2d 3x3 HS", "ms": 0.5}]
        assert [r[0] for r in store.db.execute("SELECT ms FROM samples WHERE measurement_id=? ORDER BY idx",
                                               (mid,))] == [1.9, 2.0, 2.1]


def test_latest_measurement_wins_and_errors_do_not_count(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        run = store.start_run({})
        store.add_measurement(run, "k", _result(median=2.0))
        store.add_measurement(run, "k", _result(median=3.0))
        store.add_measurement(run, "k2", {**_result(), "status": "error", "error": "boom"})
        assert [r["latency_ms"]["median"] for r in store.measurements()] == [3.0]
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


def test_a_failed_insert_leaves_nothing_half_written(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        run = store.start_run({})
        bad = _result()
        bad["per_layer"] = [{"name": "stem"}]          # no ms: the layers insert fails mid-transaction
        with pytest.raises(KeyError):
            store.add_measurement(run, "k", bad)
        assert store.db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 0
        assert store.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0


def test_an_older_store_gains_the_new_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE measurements (id INTEGER PRIMARY KEY, run_id INTEGER, key TEXT, created_at REAL,"
                   " variant TEXT, format TEXT, artifact_sha256 TEXT, runtime TEXT, device TEXT, threads INTEGER,"
                   " core INTEGER, settings TEXT, status TEXT, error TEXT, n INTEGER, median_ms REAL, mean_ms REAL,"
                   " std_ms REAL, p10_ms REAL, p90_ms REAL, ci_lo_ms REAL, ci_hi_ms REAL, noisy INTEGER,"
                   " noisy_reason TEXT, per_layer_sum_ms REAL, madds INTEGER, params INTEGER, device_state TEXT)")
    with Store(path) as store:
        run = store.start_run({})
        store.add_measurement(run, "k", {**_result(), "latency_ms": {**_result()["latency_ms"], "min": 1.9, "max": 2.1}})
        assert store.measurements()[0]["latency_ms"]["max"] == 2.1
