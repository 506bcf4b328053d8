"""`run` with two cells measured together through the CLI (short protocol: a few rounds in three
processes), and `--metric instructions` (skipped without valgrind)."""
import json
import shutil

import pytest

from conftest import SMALL

NAIVE = SMALL + ",hswish=naive"
ROUNDS = ["--runs", "10", "--block-runs", "5", "--min-secs", "0", "--warmup-runs", "5", "--warmup-secs", "0",
          "--processes", "3", "--target-ci", "0", "--profile-runs", "2"]


def test_two_cells_are_measured_together_with_paired_ratios(cli, tmp_path):
    from mbv3bench.report.tables import relative
    from mbv3bench.store import Store

    out, db = tmp_path / "run.json", tmp_path / "r.sqlite"
    code, stdout, err = cli("run", "--models", f"{SMALL},{NAIVE}", "--runtimes", "litert", "--db", str(db),
                            "--json", str(out), "--out-dir", str(tmp_path), *ROUNDS)
    assert code == 0, err
    assert "interleaved in rounds (blocks of 5 invokes)" in stdout and "paired ratios" in stdout
    fused, naive = json.loads(out.read_text())["results"]
    for me, other in ((fused, naive), (naive, fused)):
        assert [len(b) for b in me["blocks_ms"]] == [2, 2, 2]       # 3 processes x 2 rounds
        assert me["n"] == 3 * 2 * 5 and me["rounds"]["stopped_by"] == "processes"
        assert me["rounds"]["group"] == other["rounds"]["group"] and me["rounds"]["with"] == [f"{other['variant']} (tflite)"]
        lo, hi = me["latency_ms"]["ci95"]
        assert lo <= me["latency_ms"]["value"] <= hi and me["drift_pct"] is not None
        (q,) = me["ratios"]
        assert q["vs"] == {"variant": other["variant"], "format": "tflite"} and q["units"] == 3
        assert q["ci95"][0] <= q["ratio"] <= q["ci95"][1] and 0 <= q["p_value"] <= 1 and q["blocks"] == 6
        assert me["per_layer"] and me["profiler"]["profiled_run_ms"] > 0
    assert fused["ratios"][0]["ratio"] * naive["ratios"][0]["ratio"] == pytest.approx(1.0)
    # a table's "relative to the first row" is the paired ratio when both were measured together
    with Store(db, readonly=True) as store:
        a, b = sorted(store.measurements(), key=lambda r: r.variant != fused["variant"])
    assert relative(b, a) == (naive["ratios"][0]["ratio"], naive["ratios"][0]["ci95"])


@pytest.mark.skipif(shutil.which("valgrind") is None,
                    reason="valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)")
def test_instructions_are_counted_inside_the_invoke_and_repeat_exactly(cli, tmp_path):
    out = tmp_path / "run.json"
    code, stdout, err = cli("run", "--metric", "instructions", "--models", f"{SMALL},{NAIVE}", "--runtimes",
                            "litert", "--db", str(tmp_path / "r.sqlite"), "--json", str(out), "--out-dir", str(tmp_path))
    assert code == 0, err
    fused, naive = (r["instructions"] for r in json.loads(out.read_text())["results"])
    for i in (fused, naive):
        assert i["counter"] in ("hardware", "simulated") and i["per_invoke"] > 1e5 and i["invokes"] >= 3
        assert i["spread"] <= 1e-3 * i["per_invoke"]       # the same work each invoke
    if fused["counter"] == "simulated":
        assert fused["region"] == "LiteRtRunCompiledModelWithOptions" and "AVX-512" in fused["note"]
        assert fused["hardware_counter"].startswith("perf_event_open")
    assert naive["per_invoke"] > fused["per_invoke"]
    code, _, err = cli("run", "--metric", "instructions", "--models", SMALL, "--runtimes", "onnxruntime",
                       "--db", str(tmp_path / "r.sqlite"), "--out-dir", str(tmp_path))
    assert code == 2 and "not supported for runtime onnxruntime" in err and err.count("\n") == 1
