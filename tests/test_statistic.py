"""The statistic a result is headlined by (--statistic median|p10|min): measured by it, recorded with
the result, and read by another one from its blocks in `table` and `compare`; results written
before it was recorded read as "median"."""
import json
import math
import sqlite3

import numpy as np
import pytest

from conftest import SMALL, assert_results_doc
from mbv3bench.core.results import Latency, Result, envelope

ROUNDS = ["--runs", "10", "--block-runs", "5", "--min-secs", "0", "--warmup-runs", "5", "--warmup-secs", "0",
          "--processes", "3", "--target-ci", "0", "--profile-runs", "2"]
LARGE, LARGE_75 = "mobilenet_v3_large", "mobilenet_v3_large:width=0.75"
NAIVE = SMALL + ",hswish=naive"


def _quantile_of_blocks(blocks: list[list[float]], q: float) -> float:
    """The definition, written out: the q-quantile of every block median (on the log scale)."""
    return math.exp(np.quantile(np.log(np.concatenate([np.asarray(b, dtype=float) for b in blocks])), q))


def test_run_measures_and_records_the_statistic(cli, tmp_path):
    from mbv3bench.measure import blockstats
    from mbv3bench.store import Store

    out, db = tmp_path / "run.json", tmp_path / "r.sqlite"
    code, stdout, err = cli("run", "--models", f"{SMALL},{NAIVE}", "--runtimes", "litert", "--db", str(db),
                            "--json", str(out), "--out-dir", str(tmp_path), "--statistic", "p10", *ROUNDS)
    assert code == 0, err
    assert "p10 ms" in stdout and "by the p10" in stdout
    doc = json.loads(out.read_text())
    assert_results_doc(doc)
    assert doc["protocol"]["statistic"] == "p10"
    a, b = doc["results"]
    for me in (a, b):
        lat = me["latency_ms"]
        assert me["statistic"] == "p10"
        assert lat["value"] == pytest.approx(_quantile_of_blocks(me["blocks_ms"], 0.1))
        assert lat["ci95"][0] <= lat["value"] <= lat["ci95"][1]
        assert lat["median"] == pytest.approx(_quantile_of_blocks(me["blocks_ms"], 0.5))
    # the paired ratio by the p10: the ratio of the two cells' p10s, its interval across the processes
    (q,) = b["ratios"]
    assert q["ratio"] == pytest.approx(b["latency_ms"]["value"] / a["latency_ms"]["value"])
    assert q["statistic"] == "p10" and q["units"] == 3 and q["ci95"][0] <= q["ratio"] <= q["ci95"][1]
    assert blockstats.ratio(b["blocks_ms"], a["blocks_ms"], "p10").value == pytest.approx(q["ratio"])
    with Store(db, readonly=True) as store:
        stored = {r.variant: r for r in store.measurements()}
    assert stored[a["variant"]].statistic == "p10"
    assert stored[a["variant"]].headline() == (pytest.approx(a["latency_ms"]["value"]), "p10")


def test_a_bad_statistic_is_one_line_exit_2(cli):
    code, out, err = cli("run", "--statistic", "p99")
    assert code == 2 and err.count("\n") == 1 and "error:" in err and "p99" in err and "p10" in err
    code, _, err = cli("table", "--paper-table", "3", "--statistic", "mean")
    assert code == 2 and "median" in err


def _blocks(rng, level: float, procs: int = 4, rounds: int = 12) -> list[list[float]]:
    return [(level * np.exp(rng.normal(0, 0.05) + rng.gamma(2.0, 0.03, rounds))).tolist() for _ in range(procs)]


def _measured(variant: str, blocks, group="g1", statistic="median") -> Result:
    from mbv3bench.measure import blockstats

    est = blockstats.level(blocks, statistic)
    return Result(variant=variant, runtime="litert", format="tflite", device="local", threads=1, core=1,
                  latency=Latency(median=blockstats.level(blocks).value, ci95=est.ci95, value=est.value),
                  statistic=statistic, n=100, blocks_ms=blocks, rounds={"group": group},
                  settings={"threads": 1, "format": "tflite", "xnnpack": True}, artifact_sha256=variant)


def _store(path, results) -> str:
    from mbv3bench.store import Store

    with Store(path) as store:
        run = store.start_run({})
        for i, r in enumerate(results):
            store.add_measurement(run, f"k{i}", r)
    return str(path)


def _table_cells(cli, db: str, statistic: str) -> dict:
    code, out, err = cli("table", "--paper-table", "3", "--db", db, "--format", "json", "--statistic", statistic)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["statistic"] == statistic
    return {row["variant"]: row["measured"]["local"] for row in doc["rows"] if row["measured"]["local"]}


def test_table_reads_stored_results_by_any_statistic_from_their_blocks(cli, tmp_path):
    from mbv3bench.measure import blockstats

    rng = np.random.default_rng(1)
    large, small = _blocks(rng, 8.0), _blocks(rng, 6.0)
    db = _store(tmp_path / "s.sqlite", [_measured(LARGE, large), _measured(LARGE_75, small)])
    for statistic, q in (("median", 0.5), ("p10", 0.1), ("min", 0.0)):
        cells = _table_cells(cli, db, statistic)
        first, second = cells[LARGE], cells[LARGE_75]
        assert first["statistic"] == statistic and first["ms"] == pytest.approx(_quantile_of_blocks(large, q))
        assert first["ci95"][0] <= first["ms"] <= first["ci95"][1]
        # measured in the same rounds: the paired ratio by the same statistic, with its interval
        assert second["relative"] == pytest.approx(blockstats.ratio(small, large, statistic).value)
        assert second["relative_ci95"][0] <= second["relative"] <= second["relative_ci95"][1]
    code, md, _ = cli("table", "--paper-table", "3", "--db", db, "--statistic", "p10")
    assert code == 0 and "ms, the p10 of the block medians" in md


def test_results_stored_or_saved_before_the_statistic_read_as_median(cli, tmp_path):
    rng = np.random.default_rng(2)
    blocks = _blocks(rng, 8.0)
    db = _store(tmp_path / "old.sqlite", [_measured(LARGE, blocks)])
    with sqlite3.connect(db) as con:   # an older file: neither column
        con.execute("ALTER TABLE measurements DROP COLUMN statistic")
        con.execute("ALTER TABLE measurements DROP COLUMN value_ms")
    cell = _table_cells(cli, db, "median")[LARGE]
    assert cell["statistic"] == "median" and cell["ms"] == pytest.approx(_quantile_of_blocks(blocks, 0.5))
    assert _table_cells(cli, db, "p10")[LARGE]["ms"] == pytest.approx(_quantile_of_blocks(blocks, 0.1))

    doc = envelope([_measured(LARGE, blocks)], {"name": "local"})
    for r in doc["results"]:
        del r["statistic"], r["latency_ms"]["value"]
    assert Result.from_json(doc["results"][0]).headline() == (pytest.approx(doc["results"][0]["latency_ms"]["median"]),
                                                               "median")


def _save(path, results) -> str:
    path.write_text(json.dumps(envelope(results, {"name": "local", "cpu_model": "Test CPU"}, protocol={})))
    return str(path)


def test_compare_reads_both_sides_by_one_statistic(cli, tmp_path):
    rng = np.random.default_rng(3)
    base_blocks, cur_blocks = _blocks(rng, 8.0), _blocks(rng, 8.0)
    base = _save(tmp_path / "a.json", [_measured(LARGE, base_blocks, "a")])
    cur = _save(tmp_path / "b.json", [_measured(LARGE, cur_blocks, "b", statistic="p10")])
    # by default as the baseline was recorded (median): B, measured by the p10, is read by its median
    code, out, err = cli("compare", base, cur, "--format", "json")
    assert code in (0, 1), err
    (c,) = json.loads(out)["comparisons"]
    assert c["a_value"] == pytest.approx(_quantile_of_blocks(base_blocks, 0.5))
    assert c["b_value"] == pytest.approx(_quantile_of_blocks(cur_blocks, 0.5)) and "medians" in c["how"]
    code, out, err = cli("compare", base, cur, "--format", "json", "--statistic", "min")
    (c,) = json.loads(out)["comparisons"]
    assert c["a_value"] == pytest.approx(min(map(min, base_blocks))) and "mins" in c["how"]
    assert c["b_value"] == pytest.approx(min(map(min, cur_blocks)))
    # a result without blocks can only be read as recorded: said, not compared
    bare = Result(variant=LARGE, runtime="litert", format="tflite", device="local", threads=1,
                  latency=Latency(median=8.0, ci95=(7.9, 8.1)),
                  settings={"threads": 1, "format": "tflite", "xnnpack": True})
    old = _save(tmp_path / "old.json", [bare])
    code, out, err = cli("compare", old, cur, "--statistic", "p10")
    assert f"{LARGE} on litert (tflite): not readable by the p10 (A is by the median" in out, err


def test_the_schema_allows_exactly_the_statistics():
    from conftest import RESULTS_SCHEMA
    from mbv3bench.core.registry import STATISTICS

    schema = json.loads(RESULTS_SCHEMA.read_text())
    assert schema["$defs"]["result"]["properties"]["statistic"]["enum"] == list(STATISTICS)
