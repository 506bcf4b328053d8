"""Lookup tables: prediction (sum, interval, correction), statistics, exports, and one small
build -> fit -> predict -> validate -> export run through the CLI on a tiny space."""
import json
import math

import pytest
import yaml

from conftest import REPO

from mbv3bench.core.errors import UserError
from mbv3bench.lut import table
from mbv3bench.lut.blocks import sample
from mbv3bench.lut.predict import Predictor
from mbv3bench.lut.stats import errors, kendall_tau, line_fit
from mbv3bench.zoo.spec import parse_variant

SPACES = REPO / "tests" / "fixtures" / "spaces"
TINY = "tiny_space"
SHORT = ["--runs", "3", "--min-secs", "0", "--warmup-runs", "1", "--warmup-secs", "0", "--processes", "1",
         "--profile-runs", "3", "--retries", "0", "--export-jobs", "1"]
BUILD = ["--space", TINY, "--res", "64", "--runtime", "onnxruntime", *SHORT]


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setenv("MBV3BENCH_MODELS_DIR", str(SPACES))


def synthetic(ms_of=lambda vid: 1.0, half_width=0.1, space=TINY, res=64) -> dict:
    """A table of a space at one resolution with made-up times, nothing measured."""
    blocks = {}
    for _, vid, layer, ofa in table.plan(space, [res]):
        ms = ms_of(vid)
        blocks[vid] = {"ofa_key": ofa.key, "ofa_share": ofa.share, "ms": ms, "median_ms": ms, "mean_ms": ms,
                       "std_ms": 0.01, "ci95_ms": [ms - half_width, ms + half_width], "n": 20, "noisy": False,
                       "madds": None, "measurement_id": None}
    return {"schema": table.SCHEMA, "space": space, "resolutions": [res], "runtime": "litert", "format": "tflite",
            "device": {"name": "local"}, "protocol": {}, "settings": {}, "statistic": "p10", "blocks": blocks,
            "correction": None}


def test_prediction_is_the_sum_with_an_interval(tiny):
    doc = synthetic()
    p = Predictor(doc).predict("tiny_space:d=21,e=2330,k=5550")
    # stem, first block, 2 + 1 stage blocks, last_conv, pool, head_conv, classifier
    assert p.ms == p.raw_ms == 9.0
    # independent blocks add in quadrature ...
    assert p.ci95 == pytest.approx((9 - 0.1 * math.sqrt(9), 9 + 0.1 * math.sqrt(9)))
    # ... but one block used thrice is one measurement: its uses add linearly
    ofa = synthetic(space="ofa_mobilenet_v3", res=160)
    thrice = Predictor(ofa).predict(f"ofa_mobilenet_v3:d=44444,e={'3' * 20},k={'3' * 20},res=160")
    assert thrice.ms == 6 + 5 * 4
    assert thrice.ci95[1] - thrice.ms == pytest.approx(0.1 * math.sqrt(6 + 5 + 5 * 3 ** 2))


def test_breakdown_lists_every_block_in_network_order(tiny):
    doc = synthetic(lambda vid: 2.0 if "s2.1" in vid else 1.0)
    rows = Predictor(doc).breakdown("tiny_space:d=21,e=2330,k=5550")
    assert [r["layer"] for r in rows] == ["stem", "bneck1", "bneck2", "bneck3", "bneck4", "last_conv", "pool",
                                          "head_conv", "classifier"]
    assert rows[4]["block"] == "tiny_space:block=s2.1,e=3,k=5" and rows[4]["ms"] == 2.0
    assert rows[4]["ofa_key"].startswith("expanded_conv-input:16x16x16-output:8x8x24-expand:48-kernel:5-stride:2")


def test_correction_and_reference(tiny):
    doc = synthetic()
    doc["correction"] = {"kind": "parts", "intercept_ms": 0.5, "scale": 2.0, "factors": {"stem": 3.0}}
    p = Predictor(doc).predict("tiny_space:d=21,e=2330,k=5550")
    assert p.raw_ms == 9.0 and p.ms == 0.5 + 2.0 * (8 + 3)
    ref = Predictor(doc).predict(TINY)
    ratio, (lo, hi) = p.ratio_to(ref)
    assert ratio == p.ms / ref.ms and lo < ratio < hi


def test_canonical_ids_read_fast_give_what_the_parser_gives(tiny):
    p = Predictor(synthetic(space="ofa_mobilenet_v3", res=160))
    odd = ["ofa_mobilenet_v3:d=24342,e=34634634634634634634,k=35735735735735735735,res=160",   # not canonical
           "ofa_mobilenet_v3:res=160,d=24342,e=34004634634034634600,k=35005735735035735700",   # knobs out of order
           "ofa_mobilenet_v3:d=24342,e=34004634634034634600,k=35005735735035735700,res=0160"]
    for text in sample("ofa_mobilenet_v3", 50, 2, [160]) + odd:
        fast = p._canonical(text)
        v = parse_variant(text)
        assert (fast is not None) == (text == str(v)), text
        assert p.predict(text) == p.predict(v)


def test_missing_blocks_are_one_line_naming_them(tiny):
    with pytest.raises(UserError) as e:
        Predictor(synthetic()).predict("tiny_space:d=21,e=2330,k=5550,res=96")
    msg = str(e.value)
    assert "\n" not in msg and "lacks 9 block(s)" in msg and "tiny_space:block=stem,res=96" in msg
    assert "build it at res 96" in msg
    with pytest.raises(UserError, match="is not of tiny_space"):
        Predictor(synthetic()).predict("ofa_mobilenet_v3")


def test_kendall_tau_by_hand():
    # pairs of (1,2,3,4,5) vs (3,1,2,5,4): concordant 7, discordant 3 -> (7-3)/10
    assert kendall_tau([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]) == pytest.approx(0.4)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    # tau-b with a tie in x: C=2, D=0, ties_x=1 -> 2 / sqrt(2 * 3)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))
    assert kendall_tau([1], [1]) is None


def test_errors_and_line_fit():
    e = errors([1.08, 1.96, 3.0, 4.6], [1.0, 2.0, 3.0, 4.0])
    assert e["within_5pct"] == 0.5 and e["within_10pct"] == 0.75 and e["kendall_tau"] == 1.0
    assert e["mape_pct"] == pytest.approx(100 * (0.08 + 0.02 + 0 + 0.15) / 4)
    assert e["rmse"] == pytest.approx(math.sqrt((0.08 ** 2 + 0.04 ** 2 + 0.6 ** 2) / 4))
    assert line_fit([1, 2, 3], [3, 5, 7]) == pytest.approx((1.0, 2.0))
    assert line_fit([2], [3]) == (0.0, 1.5)


def test_ofa_export_loads_as_once_for_alls_table(tiny):
    doc = synthetic()
    lut = yaml.safe_load(table.ofa_yaml(doc))
    assert len(lut) == len(doc["blocks"])
    assert all(set(v) == {"mean", "std", "count"} and isinstance(v["mean"], float) for v in lut.values())
    assert lut["Conv-input:64x64x3-output:32x32x8"]["mean"] == 1.0
    csv_rows = table.csv_table(doc).splitlines()
    assert csv_rows[0].startswith("variant,ofa_key,ms,") and len(csv_rows) == len(doc["blocks"]) + 1


def test_build_fit_predict_validate_export_through_the_cli(cli, tiny, tmp_path):
    lut, db = str(tmp_path / "t.json"), str(tmp_path / "t.sqlite")
    code, out, err = cli("lut", "build", *BUILD, "-o", lut, "--db", db)
    assert code == 0, err
    assert "22 distinct blocks" in err
    doc = json.loads(open(lut).read())
    assert doc["runtime"] == "onnxruntime" and doc["device"]["name"] == "local" and len(doc["blocks"]) == 22
    assert doc["tool_versions"]["mbv3bench"] and doc["protocol"]["runs"] == 3
    b = doc["blocks"]["tiny_space:block=s2.1,e=3,k=5"]
    assert b["ms"] > 0 and b["ci95_ms"][0] <= b["ms"] <= b["ci95_ms"][1] and b["n"] >= 3
    # resumable: everything is in the store
    code, out, err = cli("lut", "build", *BUILD, "-o", lut, "--db", db, "--resume")
    assert code == 0 and "(0 measured, 22 from the store)" in out

    code, out, err = cli("lut", "fit", "--lut", lut, "-n", "2", "--seed", "3", "--db", db, "--device", "local",
                         "--export-jobs", "1", "--rounds", "1")
    assert code == 0, err
    corr = json.loads(open(lut).read())["correction"]
    assert corr["kind"] == "affine" and corr["fitted_on"]["n"] == 2 and len(corr["fitted_on"]["variants"]) == 2

    code, out, err = cli("lut", "predict", "tiny_space:d=21,e=2330,k=5550", "--lut", lut, "--json")
    assert code == 0, err
    p = json.loads(out)
    assert set(p) >= {"variant", "predicted_ms", "ci95", "blocks"} and len(p["blocks"]) == 9
    assert p["raw_ms"] == pytest.approx(sum(b["ms"] for b in p["blocks"]))
    ids = tmp_path / "ids.txt"
    ids.write_text("tiny_space\ntiny_space:d=11,e=2020,k=3030\n")
    code, out, err = cli("lut", "predict", str(ids), "--lut", lut, "--reference", TINY)
    assert code == 0 and len(out.splitlines()) == 2 and out.splitlines()[0].endswith("\t1.0000")
    code, out, err = cli("lut", "predict", TINY, "--lut", lut, "--runtime", "litert")
    assert code == 2 and err.strip() == f"error: {lut} was measured on onnxruntime, not litert: build a table with " \
                                       "--runtime litert"

    code, out, err = cli("lut", "validate", "--lut", lut, "-n", "3", "--seed", "5", "--db", db,
                         "--reference", TINY, "--json", "--plot", str(tmp_path / "v.png"), "--export-jobs", "1",
                         "--rounds", "2")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["n"] == 3 and rep["value"] == "ratio" and set(rep["metrics"]) == {"raw", "corrected"}
    assert rep["rounds"] == 2 and rep["statistic"] == "p10"
    assert set(rep["metrics"]["raw"]) >= {"rmse", "mape_pct", "within_5pct", "within_10pct", "kendall_tau"}
    assert rep["attribution"]["networks"] == 3 and rep["attribution"]["parts"]
    assert (tmp_path / "v.png").read_bytes()[:4] == b"\x89PNG"

    code, out, err = cli("lut", "export", lut, "--format", "ofa", "-o", str(tmp_path / "t.yaml"))
    assert code == 0
    assert all("mean" in v for v in yaml.safe_load((tmp_path / "t.yaml").read_text()).values())


@pytest.mark.parametrize("args, message", [
    (["lut", "build", "--space", "mobilenet_v3_large", "--res", "64", "-o", "{tmp}/x.json"],
     "mobilenet_v3_large is a network, not a search space"),
    (["lut", "build", "--space", TINY, "--res", "sixty", "-o", "{tmp}/x.json"], "--res 'sixty'"),
    (["lut", "sample", "--space", "nonet"], "unknown network 'nonet'"),
    (["lut", "predict", TINY, "--lut", "{tmp}/missing.json"], "cannot read"),
    (["lut", "export", "{tmp}/bad.json", "--format", "ofa", "-o", "{tmp}/x.yaml"], "not a mbv3bench lookup table"),
])
def test_bad_input_is_one_line(cli, tiny, tmp_path, args, message):
    (tmp_path / "bad.json").write_text("{}")
    code, out, err = cli(*[a.format(tmp=tmp_path) for a in args])
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1
