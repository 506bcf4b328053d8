"""What a hostile new user tries, run as that user runs it: through the CLI. Every bad input is
one line `error: ...` naming the bad thing, exit code 2, no traceback; files are read bounded."""
import contextlib
import json
import os
import shutil
import signal
import time
import tracemalloc
from pathlib import Path

import pytest

from conftest import FAST, SMALL

GiB = 1 << 30


def one_line_error(result, *names):
    code, _, err = result
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for name in names:
        assert name in err, err
    return err


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no disk: what a hostile user makes in a second."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def traced(run):
    """run()'s result and the peak memory Python allocated while it ran."""
    tracemalloc.start()
    try:
        return run(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---- item 3: variant IDs are exact ------------------------------------------------------------

def test_widths_that_round_to_the_same_6_digits_are_two_networks(cli):
    docs = [json.loads(cli("summary", f"mobilenet_v3_small:width={w}", "--json")[1]) for w in ("0.9166666", "0.916667")]
    assert [d["variant"] for d in docs] == ["mobilenet_v3_small:width=0.9166666", "mobilenet_v3_small:width=0.916667"]
    assert docs[0]["params"] != docs[1]["params"]


# ---- item 6: model files handed to profile ------------------------------------------------------

@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_a_huge_model_file_is_refused_before_it_is_read(cli, tmp_path, suffix):
    model = sparse(tmp_path / f"huge{suffix}", 4 * GiB)
    result, peak = traced(lambda: cli("profile", str(model)))
    one_line_error(result, str(model), "256.0 MiB limit")
    assert peak < 64 << 20


def test_only_the_header_of_a_tflite_file_is_read(cli, tmp_path):
    model = sparse(tmp_path / "zeros.tflite", 200 << 20)
    result, peak = traced(lambda: cli("profile", str(model)))
    one_line_error(result, "not a TFLite model")
    assert peak < 64 << 20


def test_a_device_file_posing_as_a_model_is_refused(cli, tmp_path):
    (tmp_path / "zero.onnx").symlink_to("/dev/zero")
    one_line_error(cli("profile", str(tmp_path / "zero.onnx")), "not a regular file")


def test_an_exception_without_a_message_is_still_one_line(cli, tmp_path, monkeypatch):
    import onnx

    def silent(*args, **kwargs):
        raise ValueError()

    monkeypatch.setattr(onnx, "load", silent)
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    one_line_error(cli("profile", str(tmp_path / "m.onnx")), "not a valid ONNX model (ValueError)")


def test_onnx_external_data_is_read_only_from_beside_the_model(cli, tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from mbv3bench.export.artifacts import foreign_artifact

    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    path = tmp_path / "ext.onnx"
    onnx.save(helper.make_model(graph), str(path), save_as_external_data=True, size_threshold=0,
              location="ext.onnx.data")
    assert foreign_artifact(path) == ("onnx", (1, 4))
    model = onnx.load(str(path), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../../etc/passwd"
    escaping = tmp_path / "escaping.onnx"
    escaping.write_bytes(model.SerializeToString())
    one_line_error(cli("profile", str(escaping)), "outside the model's folder")


# ---- items 7 and 8: benchmark_model logs ---------------------------------------------------------

COUNT_LINE = "count=50 first=900 curr=800 min=700 max=950 avg=812.5 std=20\n"
TABLE = ("============================== Run Order ==============================\n"
         "\t[node type]\t[first]\t[avg ms]\t[%]\t[cdf%]\t[mem KB]\t[times called]\t[Name]\n")


@pytest.mark.parametrize("text, names", [
    (f"count={'9' * 5000} avg=1\n", ["line 1:", "count", "2**53"]),
    ("count=12345678901234567890123 avg=1\n", ["line 1:", "count", "2**53"]),
    ("count=5 avg=1e400\n", ["line 1:", "avg", "'1e400' is not a finite number"]),
    (COUNT_LINE + TABLE + "\tCONV_2D\t1\tinf\t10%\t10%\t0\t1\tconv:0\n", ["line 4:", "avg_ms", "'inf'"]),
    (COUNT_LINE + TABLE + "\tCONV_2D\t1\tnan\t10%\t10%\t0\t1\tconv:0\n", ["line 4:", "avg_ms", "'nan'"]),
    (COUNT_LINE + TABLE + "\tCONV_2D\t1\t0.5\t10%\t10%\t0\t1e30\tconv:0\n", ["line 4:", "times_called"]),
    ("Inference timings in us: Init: 1e999, Inference (avg): 12\n", ["line 1:", "Init"]),
    ("x" * 70_000 + "\n" + COUNT_LINE, ["line 1:", "70,000 characters", "65,536"]),
])
def test_bad_numbers_and_long_lines_in_a_log_are_one_line_and_store_nothing(cli, tmp_path, text, names):
    log, db = tmp_path / "run.txt", tmp_path / "r.sqlite"
    log.write_text(text)
    one_line_error(cli("ingest", str(log), "--db", str(db)), str(log), *names)
    assert not db.exists()


def test_a_good_log_prints_finite_json(cli, tmp_path):
    log = tmp_path / "run.txt"
    log.write_text(COUNT_LINE + TABLE + "\tCONV_2D\t1\t0.5\t-nan%\t-nan%\t0\t1\tconv:0\n")
    code, out, _ = cli("ingest", str(log), "--db", str(tmp_path / "r.sqlite"), "--json")
    json.loads(out, parse_constant=pytest.fail)   # no NaN or Infinity anywhere
    assert code == 0 and json.loads(out)["results"][0]["latency_ms"]["mean"] == 0.8125


def test_a_log_larger_than_the_limit_is_not_read(cli, tmp_path):
    log = sparse(tmp_path / "big.txt", 65 << 20)
    one_line_error(cli("ingest", str(log), "--db", str(tmp_path / "r.sqlite")), "64.0 MiB limit")


@pytest.mark.parametrize("line", [
    "=" * 65_000 + "x", "x" + " " * 65_000 + "y", "a" * 65_000, "x " + "a.cc:1" * 10_000,
    "Inference timings in us: " + "a a " * 16_000, "count=1" + " a=1" * 16_000 + "x",
    TABLE + "\tx" + " 1" * 32_000, TABLE + "\tx" + " " * 65_000 + "y",
])
def test_parsing_is_linear_in_the_line(line):
    from mbv3bench.targets.android.benchmark_log import BenchmarkLogError, parse_benchmark_log

    start = time.perf_counter()
    with contextlib.suppress(BenchmarkLogError):   # some are logs, some not: only the time matters here
        parse_benchmark_log(line + "\n")
    # linear: well under 1 s; the quadratic parser took minutes on each of these
    assert time.perf_counter() - start < 10


# ---- item 11: the artifact cache ----------------------------------------------------------------

@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache of this test's own holding SMALL as onnx, copied from the session's (exported once)."""
    from mbv3bench.export.artifacts import get_artifact

    art = get_artifact(SMALL, "onnx")
    copy = tmp_path / "cache"
    (copy / "onnx").mkdir(parents=True)
    for f in art.path.parent.glob(f"{art.path.stem}.*"):
        shutil.copy2(f, copy / "onnx" / f.name)
    monkeypatch.setenv("MBV3BENCH_ARTIFACTS", str(copy))
    return copy


def _manifest(cache: Path) -> Path:
    return next(cache.glob("onnx/*.json"))


@pytest.mark.parametrize("damage", [
    lambda t: t[: len(t) // 2],                                       # truncated
    lambda t: "[]",
    lambda t: t.replace('"sha256": "', '"sha256": 5, "x": "'),
    lambda t: t.replace('"check": {', '"check": {"bad": NaN, '),
    lambda t: t.replace('"exporter"', '"exported"'),
    lambda t: "[" * 100_000,
    lambda t: "\udcff",
])
def test_a_damaged_manifest_is_a_corrupted_cache_entry(cli, cache, damage):
    manifest = _manifest(cache)
    manifest.write_bytes(damage(manifest.read_text()).encode("utf-8", "surrogateescape"))
    one_line_error(cli("export", SMALL, "--format", "onnx"), "corrupted", manifest.name, "--rebuild")


def test_run_rebuilds_a_corrupted_cache_entry(cli, cache, tmp_path):
    manifest = _manifest(cache)
    manifest.write_text("{")
    args = ["run", "--models", SMALL, "--runtimes", "onnxruntime", "--no-per-layer", "--db", str(tmp_path / "r.sqlite"),
            "--out-dir", str(tmp_path / "out"), *FAST]
    one_line_error(cli(*args), "corrupted", "--rebuild")
    code, _, err = cli(*args, "--rebuild")
    assert code == 0, err
    assert json.loads(manifest.read_text())["sha256"]


def test_a_long_variant_gets_a_short_cache_file_name():
    from mbv3bench.export.artifacts import cache_stem
    from mbv3bench.zoo.spec import Variant

    v = Variant("n" * 100, (("act", "hswish@576"), ("dilated", True), ("width", 0.35000000000000003)))
    assert len(cache_stem(v, "tflite-int8-fhs", "f" * 64).name + ".partial.tflite") <= 140


# ---- item 12: knob values and names -------------------------------------------------------------

@pytest.mark.parametrize("variant, names", [
    ("mobilenet_v3_small:res=" + "9" * 10_000, ["res=", "10,002 characters", "32..2048"]),
    ("mobilenet_v3_small:res=4096", ["res='4096'", "32..2048"]),
    ("mobilenet_v3_small:width=" + "1" * 5_000, ["width=", "(0, 4]"]),
    ("mobilenet_v3_small:width=nan", ["width='nan'"]),
    ("mobilenet_v3_small:act=hswish@" + "1" * 5_000, ["act="]),
    ("n" * 300, ["unknown network", "302 characters"]),
])
def test_huge_knob_values_and_names_are_one_short_line(cli, variant, names):
    assert len(one_line_error(cli("summary", variant), *names)) < 600


# ---- item 13: device names stay inside the profile folders --------------------------------------

def test_device_names_are_not_paths(cli, tmp_path):
    from mbv3bench.core.resources import BUILTIN_DEVICES

    # were it loaded, its kind would be the error; the name must be refused before that
    (tmp_path / "evil.yaml").write_text("name: evil\nkind: rootkit\n")
    relative = os.path.relpath(tmp_path / "evil", BUILTIN_DEVICES)
    for device in (relative, str(tmp_path / "evil"), "d" * 300):
        err = one_line_error(cli("run", "--device", device, "--db", str(tmp_path / "r.sqlite")), "unknown device")
        assert "rootkit" not in err and len(err) < 600


# ---- item 14: a worker killed by a signal -------------------------------------------------------

@pytest.mark.parametrize("sig, says", [(signal.SIGKILL, "killed by SIGKILL (out of memory?)"),
                                       (signal.SIGTERM, "killed by SIGTERM")])
def test_a_killed_worker_is_named_by_its_signal(tmp_path, monkeypatch, sig, says):
    from mbv3bench.measure.pinned import MeasurementError, run_pinned

    (tmp_path / "suicidal_worker.py").write_text(
        "import os, sys\n"
        "print('INFO: Created TensorFlow Lite XNNPACK delegate for CPU.', file=sys.stderr, flush=True)\n"
        f"os.kill(os.getpid(), {int(sig)})\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    with pytest.raises(MeasurementError) as e:
        run_pinned("suicidal_worker", {}, threads=1, what="the measurement")
    assert str(e.value) == f"the measurement: {says}"


# ---- item 15: the accuracy CSV -----------------------------------------------------------------

HEADER = "variant,precision,top1,source\n"


def test_a_byte_order_mark_is_not_part_of_the_first_column(cli, tmp_path):
    acc = tmp_path / "acc.csv"
    acc.write_text(HEADER + "mobilenet_v3_large,fp32,76.5,my eval\n", encoding="utf-8-sig")
    code, out, err = cli("table", "--paper-table", "3", "--format", "json", "--db", str(tmp_path / "r.sqlite"),
                         "--accuracy", str(acc))
    assert code == 0, err
    assert json.loads(out)["rows"][0]["top1"] == 76.5


@pytest.mark.parametrize("content, names", [
    ((HEADER + "mobilenet_v3_large,fp32,76.5,caf\xe9\n").encode("latin-1"), [":2: CSV file is not UTF-8 text"]),
    ((HEADER + "mobilenet_v3_large,fp32,76,a\nmobilenet_v3_small,fp32,67,b\nmobilenet_v3_large:width=1.0,fp32,77,c\n")
     .encode(), [":4: mobilenet_v3_large fp32 is already on line 2"]),
    ((HEADER + "mobilenet_v3_large,fp32,76,\"" + "x" * 200_000 + "\"\n").encode(), [":2: not valid CSV"]),
    ((HEADER + "mobilenet_v3_large,fp32,inf,a\n").encode(), [":2: top1 'inf' is not a finite number"]),
])
def test_bad_accuracy_files_are_one_line(cli, tmp_path, content, names):
    acc = tmp_path / "acc.csv"
    acc.write_bytes(content)
    one_line_error(cli("table", "--paper-table", "3", "--db", str(tmp_path / "r.sqlite"), "--accuracy", str(acc)),
                   *[str(acc) + n for n in names])


def test_an_accuracy_file_larger_than_the_limit_is_not_read(cli, tmp_path):
    acc = sparse(tmp_path / "acc.csv", 5 << 20)
    one_line_error(cli("plot", "--figure", "1", "--db", str(tmp_path / "r.sqlite"), "--accuracy", str(acc)),
                   str(acc), "4.0 MiB limit")


# ---- the same classes in specs and device profiles ------------------------------------------------

@pytest.mark.parametrize("content, names", [
    (b"\xff\xfe name: x\n", ["is not UTF-8 text"]),
    (b"[" * 40 + b"]" * 40, ["nested more than"]),
    (None, ["is larger than the", "bytes limit"]),
])
@pytest.mark.parametrize("env, args", [
    ("MBV3BENCH_MODELS_DIR", ["summary", "mine"]),
    ("MBV3BENCH_DEVICES_DIR", ["run", "--device", "mine"]),
])
def test_bad_user_yaml_is_one_line(cli, tmp_path, monkeypatch, content, names, env, args):
    path = tmp_path / "mine.yaml"
    if content is None:
        sparse(path, 2 << 20)
    else:
        path.write_bytes(content)
    monkeypatch.setenv(env, str(tmp_path))
    one_line_error(cli(*args, "--db", str(tmp_path / "r.sqlite")) if args[0] == "run" else cli(*args),
                   str(path), *names)
