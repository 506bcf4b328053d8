"""Tables, figures, accuracy files and calibration over a synthetic store: no benchmarking here."""
import csv
import io
import json

import pytest
from conftest import assert_results_doc

from mbv3bench.zoo.arch import resolve
from mbv3bench.zoo.cost import summary
from mbv3bench.report import plots
from mbv3bench.report.accuracy import load_accuracy, load_paper_latency
from mbv3bench.report.tables import TABLES, build, render
from mbv3bench.core.registry import format_of
from mbv3bench.core.results import Result
from mbv3bench.store import Store

CORE = max(__import__("os").sched_getaffinity(0))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# ms per million MAdds on a desktop core, per runtime: plausible, and different enough to tell apart
SPEED = {"litert": 0.025, "onnxruntime": 0.035, "torch": 0.06}
MS_PER_MB = 0.05   # a layer takes its compute time or its memory time, whichever is longer (a roofline)


def fake_result(variant: str, runtime: str = "litert", fmt: str | None = None, device: str = "local") -> Result:
    """A run-JSON result as runner.result_of makes it: per-layer times from a roofline (naive h-swish
    and int8 shifted the way they are on a real core), end-to-end 5% above their sum."""
    cost = summary(resolve(variant))
    fmt = fmt or format_of(runtime, "fp32")
    scale = (1.15 if "naive" in variant else 1) * (0.6 if "int8" in fmt else 1)
    per_layer = [{"name": layer["name"], "op": layer["op"],
                  "ms": scale * max(SPEED[runtime] * layer["madds"] / 1e6, MS_PER_MB * layer["bytes"] / 1e6)}
                 for layer in cost["layers"]]
    ms = 1.05 * sum(r["ms"] for r in per_layer)
    return Result.from_json({"variant": variant, "runtime": runtime, "format": fmt, "device": device, "threads": 1, "core": 1,
            "latency_ms": {"median": ms, "mean": ms * 1.01, "std": ms * 0.02, "p10": ms * 0.98, "p90": ms * 1.03,
                           "ci95": [ms * 0.99, ms * 1.01]},
            "n": 50, "noisy": False, "noisy_reason": None, "per_layer": per_layer,
            "per_layer_sum_ms": sum(r["ms"] for r in per_layer), "madds": cost["madds"], "params": cost["params"],
            "settings": {"threads": 1, "core": 1, "format": fmt, "per_layer": True}, "device_state": {},
            "samples_ms": [ms] * 50})


def fill(store: Store, variants, runtime="litert", fmt=None) -> None:
    run = store.start_run({})
    for i, v in enumerate(variants):
        store.add_measurement(run, f"{v}-{runtime}-{fmt}-{i}", fake_result(v, runtime, fmt))


UNMEASURED = "mnasnet_small"   # left out on purpose: tables say "unmeasured", figures name it
MEASURED = sorted(({v for f in ("1", "7", "8", "9") for v, _ in plots.needs(f)} | set(TABLES[3].variants)
                   | set(TABLES[5].variants)) - {UNMEASURED})


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "results.sqlite"
    with Store(path) as store:
        fill(store, MEASURED)
        fill(store, ["mobilenet_v3_large", "mobilenet_v3_small"], "onnxruntime")
        fill(store, TABLES[4].variants, fmt="tflite-int8")
        store.add_calibration("local", "gemm", 40.0, "GMAC/s", {})
        store.add_calibration("local", "membw", 15.0, "GB/s", {})
    return path


def _doc(db, number, devices=("local",)):
    with Store(db) as store:
        return build(number, store, list(devices), "litert", load_accuracy(), load_paper_latency(), "median")


def test_table3_json_rows_costs_and_cells(db):
    doc = _doc(db, 3)
    assert doc["table"] == 3 and doc["runtime"] == "litert" and doc["device"] == ["local"]
    assert len(doc["rows"]) == 9
    large = doc["rows"][0]
    assert large["variant"] == "mobilenet_v3_large" and large["top1"] == 75.2
    assert large["madds"] == summary(resolve("mobilenet_v3_large"))["madds"]
    assert large["params"] == summary(resolve("mobilenet_v3_large"))["params"]
    assert large["measured"]["local"]["n"] == 50 and large["measured"]["local"]["relative"] == pytest.approx(1.0)
    assert large["paper"]["pixel1"] == 51 and large["paper"]["relative"]["pixel1"] == 1.0
    mnas = next(r for r in doc["rows"] if r["variant"] == UNMEASURED)
    assert mnas["measured"]["local"] is None and mnas["missing"]["local"].startswith("unmeasured")
    assert "local core 1, litert (tflite" in doc["produced_by"]["local"]
    assert_results_doc(json.loads(render(doc, "json")))


def test_table_renders_md_csv_tex_and_says_unmeasured(db):
    doc = _doc(db, 3, ("local", "pixel1"))
    md = render(doc, "md")
    assert md.count("\n| ") >= 11 and "unmeasured" in md and "measured on local" in md
    rows = list(csv.reader(io.StringIO("".join(l for l in render(doc, "csv").splitlines(True) if not l.startswith("#")))))
    assert len(rows) == 10 and all(cell != "" for row in rows for cell in row)
    tex = render(doc, "tex")
    assert r"\begin{tabular}" in tex and r"mobilenet\_v3\_large" in tex


def test_table4_int8_and_table5_no_opt(db):
    t4 = _doc(db, 4)
    assert t4["format"] == "tflite-int8" and [r["top1"] for r in t4["rows"]] == [73.8, 70.9, 64.9, 57.2]
    assert t4["fhs_format"] is None and "measured_fhs" not in t4["rows"][0]
    with Store(db) as store:
        fill(store, ["mobilenet_v2"], fmt="tflite-int8-fhs")
    t4 = _doc(db, 4)
    assert t4["fhs_format"] == "tflite-int8-fhs" and t4["rows"][0]["measured_fhs"]["local"] is None
    assert t4["rows"][1]["measured_fhs"]["local"]["n"] == 50 and "tflite-int8-fhs ms" in render(t4, "md")
    t5 = _doc(db, 5)
    assert len(t5["rows"]) == 8 and t5["rows"][1]["variant"] == "mobilenet_v3_large:hswish=naive"
    assert t5["rows"][1]["paper"]["pixel1"] == 57.5 and t5["rows"][1]["top1"] == 75.2


@pytest.mark.parametrize("figure", plots.FIGURES)
def test_every_figure_writes_a_readable_png(db, tmp_path, figure):
    import matplotlib.image

    with Store(db) as store:
        ctx = plots.Context(store, "local", "litert", load_accuracy(), load_paper_latency(),
                            {"gemm": 40.0, "membw": 15.0})
        out = plots.draw(figure, tmp_path / f"{figure}.png", ctx)
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert matplotlib.image.imread(out).shape[0] > 300


def test_figure_as_svg_via_cli(db, tmp_path, cli):
    out = tmp_path / "fig8.svg"
    code, stdout, _ = cli("plot", "--figure", "8", "-o", str(out), "--db", str(db))
    assert code == 0 and out.read_text().lstrip().startswith("<?xml") and "<svg" in out.read_text()


def test_missing_figure_data_names_the_runs(tmp_path, cli):
    code, _, err = cli("plot", "--figure", "7", "--db", str(tmp_path / "empty.sqlite"), "-o", str(tmp_path / "x.png"))
    assert code == 2 and err.count("\n") == 1
    assert "figure 7 needs measurements of mobilenet_v3_large:width=0.35" in err and "--runtimes litert" in err


def test_roofline_without_calibration_on_a_phone_says_so(db, tmp_path):
    with Store(db) as store:
        fill(store, ["mobilenet_v3_large"], "litert")
        store.query("UPDATE measurements SET device='pixel1'")
        ctx = plots.Context(store, "pixel1", "litert", load_accuracy(), load_paper_latency(), None)
        assert plots.draw("roofline", tmp_path / "r.png", ctx).read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("content, problem", [
    ("variant,precision,top1\nmobilenet_v3_large,fp32,75\nnonet,fp32,70\n", ":3: unknown variant 'nonet'"),
    ("variant,precision,top1\nmobilenet_v3_large:width=0.5,fp32,140\n", ":2: top1 '140' is outside 0..100"),
    ("variant,top1\nmobilenet_v3_large,75\n", ":1: missing column precision"),
    ("variant,precision,top1\nmobilenet_v3_large,fp32,high\n", ":2: top1 'high' is not a number"),
])
def test_bad_accuracy_row_is_one_line_with_file_and_line(db, tmp_path, cli, content, problem):
    bad = tmp_path / "acc.csv"
    bad.write_text(content)
    code, _, err = cli("table", "--paper-table", "3", "--db", str(db), "--accuracy", str(bad))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert f"{bad}{problem}" in err


def test_user_accuracy_adds_and_overrides(db, tmp_path, cli):
    acc = tmp_path / "acc.csv"
    acc.write_text("variant,precision,top1,source\nmobilenet_v3_large,fp32,76.0,my eval\n")
    code, out, _ = cli("table", "--paper-table", "3", "--format", "json", "--db", str(db), "--accuracy", str(acc))
    row = json.loads(out)["rows"][0]
    assert code == 0 and row["top1"] == 76.0 and row["top1_source"] == "my eval"


def test_report_writes_index_of_tables_and_figures(db, tmp_path, cli):
    out = tmp_path / "report"
    code, _, _ = cli("report", "-o", str(out), "--db", str(db))
    index = (out / "index.md").read_text()
    assert code == 0 and "(table3.md)" in index and "(figure1.png)" in index and "(roofline.png)" in index
    assert (out / "layers.png").read_bytes()[:8] == PNG_SIGNATURE


def test_calibration_is_measured_stored_and_reused(tmp_path):
    from mbv3bench.measure.calibrate import peaks

    with Store(tmp_path / "cal.sqlite") as store:
        first = peaks(store, "local", CORE, budget_s=0.2)
        assert first["gemm"] > 0.1 and first["membw"] > 0.1
        assert store.calibration("local", "gemm")["unit"] == "GMAC/s"
        assert peaks(store, "local", CORE) == first
        assert peaks(store, "pixel1", None) is None

