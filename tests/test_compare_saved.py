"""`compare BASELINE CURRENT` and `baseline save|show` on saved documents (no measuring here)."""
import json

import pytest

from mbv3bench.compare.verdict import Ratio, corrected, layer_attribution, ratio_of_independent, verdict
from mbv3bench.core.results import LayerTime, Latency, Result, envelope

DEVICE = {"name": "local", "kind": "local", "cpu_model": "Test CPU", "core": 1}
VERSIONS = {"ai-edge-litert": "2.3.0", "onnxruntime": "1.20.0", "torch": "2.13.0"}


def _result(variant="mobilenet_v3_small", ms=3.0, half_ci=0.01, sha="a", layers=(("stem", 0.5), ("bneck1", 2.0)),
            threads=1):
    return Result(variant=variant, runtime="litert", format="tflite", device="local", threads=threads, core=1,
                  latency=Latency(median=ms, ci95=(ms * (1 - half_ci), ms * (1 + half_ci))), n=100,
                  per_layer=[LayerTime(n, "conv", v * ms / 3.0) for n, v in layers],
                  settings={"threads": threads, "format": "tflite", "xnnpack": True}, artifact_sha256=sha)


def _save(path, results, device=DEVICE, versions=None):
    """A document as `run --json` writes it."""
    path.write_text(json.dumps(envelope(results, device, protocol={}, versions=versions or VERSIONS)))
    return str(path)


def test_verdict_needs_both_threshold_and_significance():
    assert verdict(Ratio(1.10, (1.08, 1.12), 0.001, ""), 0.05) == "regression"
    assert verdict(Ratio(1.10, (0.95, 1.25), 0.2, ""), 0.05) == "unchanged"    # not significant
    assert verdict(Ratio(1.02, (1.01, 1.03), 0.001, ""), 0.05) == "unchanged"  # significant but small
    assert verdict(Ratio(0.90, (0.88, 0.92), 0.001, ""), 0.05) == "improvement"


def test_independent_ratio_interval_and_drift_correction():
    r = ratio_of_independent(2.0, (1.98, 2.02), 2.2, (2.178, 2.222), "x")
    assert r.value == pytest.approx(1.1) and r.ci95[0] < 1.1 < r.ci95[1] and r.p_value < 1e-6
    same = ratio_of_independent(2.0, (1.9, 2.1), 2.0, (1.9, 2.1), "x")
    assert same.p_value == pytest.approx(1.0)
    drift = Ratio(1.1, (1.09, 1.11), 0.0, "ref")
    fixed = corrected(r, drift)
    assert fixed.value == pytest.approx(1.0) and fixed.p_value > 0.5 and "drift" in fixed.how


def test_layer_attribution_names_the_layers_that_changed():
    a = _result(layers=(("stem", 0.5), ("bneck1", 2.0), ("bneck2", 0.5)))
    b = _result(layers=(("stem", 0.5), ("bneck1", 2.6), ("bneck2", 0.6)))
    rows = layer_attribution(a, b)
    assert rows[0]["layer"] == "bneck1" and rows[0]["delta_ms"] == pytest.approx(0.6)
    assert rows[0]["share"] == pytest.approx(0.6 / 0.7) and rows[-1]["delta_ms"] == pytest.approx(0.0)


def test_same_results_are_unchanged_exit_0(cli, tmp_path):
    base = _save(tmp_path / "base.json", [_result(), _result("mobilenet_v3_large", 8.0)])
    code, out, err = cli("compare", base, base)
    assert code == 0, err
    assert out.count("unchanged") == 2 and "regression" not in out


def test_slower_cell_is_a_regression_exit_1_with_layers(cli, tmp_path):
    base = _save(tmp_path / "base.json", [_result(), _result("mobilenet_v3_large", 8.0, sha="L")])
    slower = _result(ms=3.6, sha="b", layers=(("stem", 0.5), ("bneck1", 2.5)))
    cur = _save(tmp_path / "pr.json", [slower, _result("mobilenet_v3_large", 8.0, sha="L")])
    code, out, err = cli("compare", base, cur, "--format", "md")
    assert code == 1, err
    assert "| mobilenet_v3_small on litert (tflite) |" in out and "regression" in out
    assert "which layers account for the change" in out and "| bneck1 |" in out
    assert "identical in both runs" in out        # the large model is the drift reference
    code, out, _ = cli("compare", base, cur, "--format", "json")
    doc = json.loads(out)
    assert doc["schema"] == 1 and code == 1
    (small,) = [c for c in doc["comparisons"] if c["a"] == "mobilenet_v3_small"]
    assert set(small) >= {"a", "b", "runtime", "format", "metric", "ratio", "ci95", "p_value", "verdict", "layers"}
    assert small["verdict"] == "regression" and small["ratio"] == pytest.approx(1.2)
    assert small["layers"][0]["layer"] == "bneck1"


def test_host_drift_seen_by_a_reference_cell_is_divided_out(cli, tmp_path):
    base = _save(tmp_path / "base.json", [_result(sha="s1"), _result("mobilenet_v3_large", 8.0, sha="ref")])
    # the whole host got 20% slower: both cells, the unchanged reference too
    cur = _save(tmp_path / "cur.json", [_result(ms=3.6, sha="s2"), _result("mobilenet_v3_large", 9.6, sha="ref")])
    code, out, _ = cli("compare", base, cur)
    assert code == 0 and "host drift +20.0%" in out
    code, out, _ = cli("compare", base, cur, "--reference", "nope")
    assert code == 2 and "--reference nope" in _err_line(cli, base, cur, "--reference", "nope")


def _err_line(cli, *args):
    code, _, err = cli("compare", *args)
    (line,) = err.strip().splitlines()
    return line


@pytest.mark.parametrize("change, message", [
    ({"device": {**DEVICE, "cpu_model": "Other CPU"}}, "device cpu_model 'Test CPU'"),
    ({"threads": 4}, "other settings"),
    ({"variant": "mobilenet_v2"}, "no cell of"),
])
def test_mismatched_documents_are_one_line(cli, tmp_path, change, message):
    base = _save(tmp_path / "base.json", [_result()])
    result = _result(variant=change.get("variant", "mobilenet_v3_small"), threads=change.get("threads", 1))
    cur = _save(tmp_path / "cur.json", [result], device=change.get("device", DEVICE))
    code, _, err = cli("compare", base, cur)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content", ["{", '{"results": [{"variant": 1}]}', '{"schema": 2, "results": []}',
                                     '{"schema": 1, "results": [], "x": NaN}', "[1, 2]"])
def test_bad_documents_are_one_line(cli, tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, _, err = cli("compare", str(bad), str(bad))
    assert code == 2 and str(bad) in err and len(err.strip().splitlines()) == 1


def test_unmatched_cells_are_listed_not_guessed(cli, tmp_path):
    base = _save(tmp_path / "base.json", [_result(), _result("mobilenet_v2", 5.0)])
    cur = _save(tmp_path / "cur.json", [_result()])
    code, out, _ = cli("compare", base, cur)
    assert code == 0 and "only in base.json: mobilenet_v2 on litert (tflite)" in out


def test_baseline_save_show_and_compare(cli, tmp_path):
    run = _save(tmp_path / "run.json", [_result()])
    code, out, err = cli("baseline", "save", str(tmp_path / "baseline.json"), "--from", run)
    assert code == 0, err
    doc = json.loads((tmp_path / "baseline.json").read_text())
    assert doc["kind"] == "baseline" and doc["provenance"]["tool"] == "mbv3bench"
    assert doc["provenance"]["versions"]["ai-edge-litert"] and doc["device"]["cpu_model"] == "Test CPU"
    code, out, _ = cli("baseline", "show", str(tmp_path / "baseline.json"))
    assert code == 0 and "mobilenet_v3_small on litert (tflite): median 3.000 ms" in out and "saved " in out
    code, out, _ = cli("compare", str(tmp_path / "baseline.json"), run, "--summary", str(tmp_path / "summary.md"))
    assert code == 0 and "| cell | A | B |" in (tmp_path / "summary.md").read_text()


def test_baseline_from_an_empty_store_is_one_line(cli, tmp_path):
    code, _, err = cli("baseline", "save", str(tmp_path / "b.json"), "--db", str(tmp_path / "none.sqlite"))
    assert code == 2 and "nothing to save" in err and not (tmp_path / "none.sqlite").exists()
