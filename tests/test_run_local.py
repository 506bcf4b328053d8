"""The local run end to end, on the cheapest real variant: exports, the pinned worker, the store,
--resume, kills, and the one-line errors."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import FAST, SMALL, assert_results_doc
from mbv3bench.zoo.arch import resolve
from mbv3bench.zoo.cost import summary

LAYERS = {l.name for l in resolve(SMALL).layers}
COST = summary(resolve(SMALL))


def _count(db) -> int:
    try:
        with sqlite3.connect(db) as c:
            return c.execute("SELECT COUNT(*) FROM measurements WHERE status='ok'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_run_json_shape_per_layer_and_resume(cli, tmp_path):
    db, out = tmp_path / "r.sqlite", tmp_path / "run.json"
    args = ["run", "--models", SMALL, "--runtimes", "litert,onnxruntime,torch", "--db", str(db),
            "--json", str(out), "--out-dir", str(tmp_path), *FAST]
    code, stdout, stderr = cli(*args)
    assert code == 0, stderr
    doc = json.loads(out.read_text())
    assert_results_doc(doc)
    assert doc["device"]["name"] == "local" and doc["device"]["core"] in os.sched_getaffinity(0)
    assert [r["runtime"] for r in doc["results"]] == ["litert", "onnxruntime", "torch"]
    for r in doc["results"]:
        lat = r["latency_ms"]
        assert set(lat) == {"median", "mean", "std", "p10", "p90", "ci95", "min", "max", "value"}
        assert lat["min"] <= lat["p10"] <= lat["median"] <= lat["p90"] <= lat["max"]
        assert r["n"] >= 5 and r["threads"] == 1 and isinstance(r["noisy"], bool)
        assert (r["madds"], r["params"]) == (COST["madds"], COST["params"])
        names = [row["name"] for row in r["per_layer"]]
        assert set(names) <= LAYERS and "stem" in names and "classifier" in names
        ratio = r["per_layer_sum_ms"] / r["latency_ms"]["value"]
        assert 0.5 < ratio < 1.5, (r["runtime"], ratio)     # the tool reports it; see README for the band
    assert (tmp_path / next(p.name for p in tmp_path.glob("layers-*.csv"))).read_text().count("\n") > 10
    assert _count(db) == 3

    code, stdout, _ = cli(*args, "--resume")
    assert code == 0 and _count(db) == 3          # nothing measured again
    resumed = json.loads(out.read_text())
    # a resumed result is the fresh one, flagged
    assert [{**r, "resumed": False} for r in resumed["results"]] == doc["results"]
    assert all(r["resumed"] for r in resumed["results"]) and resumed["schema"] == doc["schema"] == 1


def test_no_per_layer_reports_no_layers(cli, tmp_path):
    out = tmp_path / "run.json"
    code, _, err = cli("run", "--models", SMALL, "--runtimes", "onnxruntime", "--no-per-layer",
                       "--db", str(tmp_path / "r.sqlite"), "--json", str(out), "--out-dir", str(tmp_path), *FAST)
    assert code == 0, err
    r = json.loads(out.read_text())["results"][0]
    assert r["per_layer"] == [] and r["per_layer_sum_ms"] is None


def test_killed_run_keeps_finished_measurements_and_resumes(tmp_path):
    db = tmp_path / "r.sqlite"
    variants = f"{SMALL},mobilenet_v3_small:res=96,width=0.5"
    cmd = [sys.executable, "-m", "mbv3bench.cli", "run", "--models", variants, "--runtimes", "onnxruntime,torch",
           "--db", str(db), "--out-dir", str(tmp_path), *FAST, "--runs", "200", "--min-secs", "0.5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while _count(db) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)        # waiting for a condition, not timing anything
        assert proc.poll() is None, "run finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    kept = _count(db)
    assert 1 <= kept < 4
    with sqlite3.connect(db) as c:
        before = {r[0] for r in c.execute("SELECT id FROM measurements")}
    subprocess.run(cmd + ["--resume"], check=True, capture_output=True)
    assert _count(db) == 4
    with sqlite3.connect(db) as c:
        ids = {r[0] for r in c.execute("SELECT id FROM measurements WHERE status='ok'")}
    assert before <= ids and len(ids - before) == 4 - kept     # finished ones kept, none redone


@pytest.mark.parametrize("args, names", [
    (["--runtimes", "tensorrt"], "unknown runtime 'tensorrt'"),
    (["--device", "pixel99"], "unknown device 'pixel99'"),
    (["--models", "mobilenet_v3_tiny"], "unknown network 'mobilenet_v3_tiny'"),
    (["--precision", "fp8"], "unknown precision 'fp8'"),
    (["--core", "999"], "--core 999"),
    (["--runs", "0"], "--runs"),
])
def test_bad_run_input_is_one_line(cli, tmp_path, args, names):
    code, out, err = cli("run", "--models", SMALL, "--db", str(tmp_path / "r.sqlite"), *args)
    assert code != 0 and names in err and err.count("\n") == 1 and "Traceback" not in err


def test_unwritable_db_is_one_line(cli, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = cli("run", "--models", SMALL, "--db", str(tmp_path / "file" / "r.sqlite"))
    assert code != 0 and "cannot use results store" in err and err.count("\n") == 1


def test_export_is_cached_and_checked(cli):
    code, out, _ = cli("export", SMALL, "--format", "onnx")
    assert code == 0 and "max abs error vs torch" in out
    code, out2, _ = cli("export", SMALL, "--format", "onnx")
    assert code == 0 and out2.startswith("cached")
    err = float(out.split("max abs error vs torch ")[1].split()[0])
    assert err < 1e-4


def test_corrupted_cached_artifact_is_reported(cli, shared_artifact_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("MBV3BENCH_ARTIFACTS", str(tmp_path))
    assert cli("export", SMALL, "--format", "onnx")[0] == 0
    model = next(tmp_path.glob("onnx/*.onnx"))
    model.write_bytes(model.read_bytes()[:-10] + b"corrupted!")
    code, _, err = cli("export", SMALL, "--format", "onnx")
    assert code != 0 and "corrupted" in err and str(model) in err and err.count("\n") == 1
    assert cli("export", SMALL, "--format", "onnx", "--rebuild")[0] == 0


def test_profile_of_a_foreign_onnx_file(cli, tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((8, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="features.0.conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"], name="features.0.relu"),
         helper.make_node("GlobalAveragePool", ["r"], ["y"], name="head.pool")],
        "foreign", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 1, 1])], [w])
    path = tmp_path / "other tool.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    code, out, err = cli("profile", str(path), "--json", *FAST)
    assert code == 0, err
    r = json.loads(out)["results"][0]
    assert r["variant"] == "other tool.onnx" and r["runtime"] == "onnxruntime" and r["madds"] is None
    assert [row["name"] for row in r["per_layer"]] == ["features", "head"]


@pytest.mark.parametrize("content, suffix, names", [
    (b"hello, not a model", ".onnx", "not a valid ONNX model"),
    (b"\x00" * 64, ".tflite", "not a TFLite model"),
    (b"x", ".pt", "unknown model file type"),
])
def test_profile_of_a_file_that_is_not_a_model(cli, tmp_path, content, suffix, names):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    code, _, err = cli("profile", str(path))
    assert code != 0 and names in err and err.count("\n") == 1


def test_profile_of_a_variant_has_every_layer(cli):
    code, out, err = cli("profile", SMALL, "--runtime", "litert", "--json", *FAST)
    assert code == 0, err
    assert_results_doc(json.loads(out))
    r = json.loads(out)["results"][0]
    assert [row["name"] for row in r["per_layer"]] == [l.name for l in resolve(SMALL).layers
                                                      if l.name in {x["name"] for x in r["per_layer"]}]
    assert {"stem", "bneck1", "bneck11", "classifier"} <= {x["name"] for x in r["per_layer"]}


def test_profile_table_shows_layers_beside_end_to_end(cli):
    code, out, err = cli("profile", SMALL, "--runtime", "onnxruntime", *FAST)
    assert code == 0, err
    assert "sum of layers" in out and "bneck1" in out and "end-to-end" in out
