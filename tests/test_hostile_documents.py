"""Saved documents written by another version or edited by hand, through the CLI: a real `run --json`
document and a real lookup table, each key given the wrong type, impossible numbers, deep nesting,
copies of a cell, another device. Every refusal is one `error:` line naming the file and the key,
exit 2, no traceback; and verdicts that could not be trusted are said, never "unchanged"."""
import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FAST, REPO, SMALL
from test_hostile_inputs import one_line_error

TABLE = REPO / "reports" / "reference" / "lut" / "ofa_mobilenet_v3-160.json"   # measured by `lut build`
ARCH = "ofa_mobilenet_v3:res=160"
WRONG = ["x", [1.0], {"k": 1}, True]   # one of each JSON type but number and null


@pytest.fixture(scope="module")
def run_doc(tmp_path_factory) -> dict:
    """What `run --json` writes: one cell measured for real (ONNX Runtime, the cheapest variant)."""
    from mbv3bench.cli import main

    tmp = tmp_path_factory.mktemp("run")
    out = tmp / "run.json"
    result = CliRunner().invoke(main, ["run", "--models", SMALL, "--runtimes", "onnxruntime", *FAST[:-4],
                                       "--processes", "2", "--target-ci", "0", "--db", str(tmp / "r.sqlite"),
                                       "--json", str(out), "--out-dir", str(tmp / "out")])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def _write(path: Path, doc, raw: dict | None = None) -> str:
    """doc as JSON; raw: placeholder numbers replaced by literal text (NaN, 1e400, deep nesting)."""
    text = json.dumps(doc)
    for placeholder, literal in (raw or {}).items():
        assert placeholder in text
        text = text.replace(placeholder, literal)
    path.write_text(text)
    return str(path)


def _paths(value, path=()):
    """Every key of a document, a list's first item standing for the rest."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list) and value:
        yield from _paths(value[0], (*path, 0))


def _set(doc, path, value):
    doc = copy.deepcopy(doc)
    target = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return doc


def _shown(path) -> str:
    from mbv3bench.core.documents import key_path

    return key_path(path)


def _type(value) -> str:
    return {bool: "bool", str: "str", list: "list", dict: "dict", type(None): "null"}.get(type(value), "number")


# keys whose contents any later version may fill as it likes: a reader takes any value there
FREE = {("protocol",), ("settings",), ("device_state",), ("rounds",), ("per_layer_grouping",), ("ratios",),
        ("build",), ("fitted_on",), ("in_sample",)}


def _free(path) -> bool:
    names = tuple(k for k in path if isinstance(k, str))
    if names[:1] == ("device",) and names[1:] and names[1] not in ("name", "kind", "cpu_model", "model", "core"):
        return True
    return any(names[i:i + 1] in FREE for i in range(len(names) - 1))


# ---- results documents: compare, baseline show, baseline save --from ---------------------------

def test_the_real_document_compares_with_itself(cli, run_doc, tmp_path):
    doc = _write(tmp_path / "run.json", run_doc)
    code, out, err = cli("compare", doc, doc)
    assert code == 0, err
    assert "reference" in out and "unchanged" not in out   # its own yardstick, never judged by itself


def test_an_interval_is_checked_against_the_statistic_it_is_of(cli, run_doc, tmp_path):
    """A p10 or min headline's interval need not hold the median: that is not a damaged document."""
    doc = copy.deepcopy(run_doc)
    lat = doc["results"][0]["latency_ms"]
    doc["results"][0]["statistic"], lat["value"] = "min", lat["ci95"][0] * 1.001
    lat["median"] = lat["p90"] = lat["max"] = max(lat["max"], lat["ci95"][1] * 2)
    path = _write(tmp_path / "run.json", doc)
    code, out, err = cli("compare", path, path)
    assert code == 0, err
    lat["value"] = lat["ci95"][1] * 2   # outside its own interval: refused, naming the key
    path = _write(tmp_path / "bad.json", doc)
    code, _, err = cli("compare", path, path)
    assert code == 2 and "latency_ms.ci95" in err and "holding the min" in err and err.count("\n") == 1


def test_every_key_of_a_real_document_given_a_wrong_type(cli, run_doc, tmp_path):
    base = _write(tmp_path / "base.json", run_doc)
    checked = 0
    for path in _paths(run_doc):
        if not path or path == ("schema",):
            continue
        original = eval_path(run_doc, path)
        for wrong in WRONG:
            if original is None or _type(wrong) == _type(original):   # null: which type is right is not known
                continue
            bad = _write(tmp_path / "bad.json", _set(run_doc, path, wrong))
            code, out, err = cli("compare", base, bad)
            assert "Traceback" not in err and code in (0, 1, 2), (path, wrong, err)
            if _free(path):
                continue
            one_line_error((code, out, err), str(bad), _shown(path))
            checked += 1
    assert checked > 150   # every typed key of the result, its latency and layers, the device, the versions


def eval_path(doc, path):
    for k in path:
        doc = doc[k]
    return doc


LAT = ("results", 0, "latency_ms")


@pytest.mark.parametrize("path, value, raw", [
    ((*LAT, "median"), 0, None),
    ((*LAT, "median"), -3.5, None),
    ((*LAT, "median"), 1e9, None),
    ((*LAT, "median"), 424242.5, {"424242.5": "1e400"}),
    ((*LAT, "median"), 424242.5, {"424242.5": "NaN"}),
    ((*LAT, "median"), 424242.5, {"424242.5": "-Infinity"}),
    ((*LAT, "median"), 424242, {"424242": "9" * 5000}),
    ((*LAT, "median"), "0.4", None),
    ((*LAT, "median"), [0.4], None),
    ((*LAT, "std"), -0.1, None),
    ((*LAT, "ci95"), [0.4], None),
    ((*LAT, "ci95"), [0.5, 0.3], None),
    ((*LAT, "ci95"), [0.4, 0.5, 0.6], None),
    ((*LAT, "p10"), 0.0, None),
    (("results", 0, "per_layer", 0, "ms"), -15, None),
    (("results", 0, "n"), 0, None),
    (("results", 0, "threads"), 0, None),
    (("results", 0, "settings"), 7, None),
    (("results", 0, "latency_ms"), [], None),
    (("results", 0, "process_medians_ms", 0), 424242.5, {"424242.5": "Infinity"}),
    (("results", 0, "device_state", "instructions"), "many", None),
    (("device",), "local", None),
    (("versions", "onnxruntime"), 1.2, None),
])
def test_impossible_values_are_refused_naming_the_key(cli, run_doc, tmp_path, path, value, raw):
    good = _write(tmp_path / "good.json", run_doc)
    bad = _write(tmp_path / "bad.json", _set(run_doc, path, value), raw)
    for args in (("compare", good, bad), ("compare", bad, good), ("baseline", "show", bad),
                 ("baseline", "save", str(tmp_path / "b.json"), "--from", bad)):
        one_line_error(cli(*args), bad, _shown(path))
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize("where", ["settings", "notes"])
def test_deep_nesting_is_refused_before_parsing_unless_inside_a_string(cli, run_doc, tmp_path, where):
    deep = "[" * 10_000 + "]" * 10_000
    placeholder = 424242.5
    value = {"k": placeholder} if where == "settings" else [placeholder]
    doc = _set(run_doc, ("results", 0, where), value)
    bad = _write(tmp_path / "deep.json", doc, {"424242.5": deep})
    one_line_error(cli("compare", bad, bad), bad, "levels deep", "at most 64")
    if where == "notes":   # the same brackets inside a string are text
        doc = _set(run_doc, ("results", 0, "notes"), [deep])
        fine = _write(tmp_path / "text.json", doc)
        assert cli("compare", fine, fine)[0] == 0


def test_a_cell_twice_in_one_document_is_refused(cli, run_doc, tmp_path):
    doc = copy.deepcopy(run_doc)
    second = copy.deepcopy(doc["results"][0])
    second["latency_ms"] = {k: (v * 2 if isinstance(v, float) else [x * 2 for x in v] if isinstance(v, list) else v)
                            for k, v in second["latency_ms"].items()}
    doc["results"].append(second)
    bad = _write(tmp_path / "twice.json", doc)
    good = _write(tmp_path / "good.json", run_doc)
    one_line_error(cli("compare", good, bad), bad, "results[1]", "again (also results[0])")


def test_a_result_of_another_device_is_refused(cli, run_doc, tmp_path):
    bad = _write(tmp_path / "other.json", _set(run_doc, ("results", 0, "device"), "pixel3"))
    good = _write(tmp_path / "good.json", run_doc)
    one_line_error(cli("compare", good, bad), bad, "results[0].device", "'pixel3'", "'local'")


def test_extra_keys_of_a_newer_version_are_read(cli, run_doc, tmp_path):
    doc = copy.deepcopy(run_doc)
    doc["results"][0]["statistic"] = "p10"
    doc["results"][0]["per_layer"][0]["share"] = 0.1
    doc["future"] = {"anything": [1, 2]}
    newer = _write(tmp_path / "newer.json", doc)
    assert cli("compare", newer, newer)[0] == 0
    assert cli("baseline", "show", newer)[0] == 0


# ---- verdicts that can be trusted -----------------------------------------------------------------

DEVICE = {"name": "local", "kind": "local", "cpu_model": "Test CPU", "core": 1}
VERSIONS = {"ai-edge-litert": "2.3.0", "onnxruntime": "1.20.0", "torch": "2.13.0"}


def _doc(path, cells, versions=VERSIONS, ci=True):
    """A results document of (variant, median ms, model sha) cells."""
    from mbv3bench.core.results import Latency, Result, envelope

    results = [Result(variant=v, runtime="litert", format="tflite", device="local", threads=1, core=1, n=100,
                      latency=Latency(median=ms, ci95=(ms * 0.99, ms * 1.01) if ci else (None, None)),
                      settings={"threads": 1, "format": "tflite", "xnnpack": True}, artifact_sha256=sha)
               for v, ms, sha in cells]
    path.write_text(json.dumps(envelope(results, DEVICE, versions=versions)))
    return str(path)


@pytest.mark.parametrize("threshold", ["nan", "NaN", "inf", "-1", "1e400"])
def test_a_threshold_that_is_no_finite_percentage_is_refused(cli, tmp_path, threshold):
    a = _doc(tmp_path / "a.json", [("mobilenet_v3_small", 3.0, "a")])
    b = _doc(tmp_path / "b.json", [("mobilenet_v3_small", 4.5, "b")])
    one_line_error(cli("compare", a, b, "--threshold", threshold), "--threshold")


def test_the_only_identical_cell_is_not_divided_by_itself(cli, tmp_path):
    a = _doc(tmp_path / "a.json", [("mobilenet_v3_small", 3.0, "same")])
    b = _doc(tmp_path / "b.json", [("mobilenet_v3_small", 4.5, "same")])
    code, out, _ = cli("compare", a, b, "--format", "json")
    (c,) = json.loads(out)["comparisons"]
    assert c["verdict"] == "reference" and c["ratio"] == pytest.approx(1.5)   # the drift, shown, not judged


def test_a_cell_with_an_identical_model_is_judged_against_the_other_references(cli, tmp_path):
    cells = [("mobilenet_v3_small", 3.0, "s"), ("mobilenet_v3_large", 8.0, "l"), ("mobilenet_v2", 5.0, "v2")]
    a = _doc(tmp_path / "a.json", cells)
    b = _doc(tmp_path / "b.json", [("mobilenet_v3_small", 4.5, "s"), ("mobilenet_v3_large", 8.0, "l"),
                                   ("mobilenet_v2", 5.0, "v2")])
    code, out, _ = cli("compare", a, b, "--format", "json")
    verdicts = {c["a"]: (c["verdict"], c["ratio"]) for c in json.loads(out)["comparisons"]}
    assert code == 1 and verdicts["mobilenet_v3_small"] == ("regression", pytest.approx(1.5))
    assert verdicts["mobilenet_v3_large"][0] == "unchanged"


def test_an_edited_runtime_version_is_noticed(cli, tmp_path):
    a = _doc(tmp_path / "a.json", [("mobilenet_v3_small", 3.0, "same"), ("mobilenet_v3_large", 8.0, "L")])
    b = _doc(tmp_path / "b.json", [("mobilenet_v3_small", 4.5, "same"), ("mobilenet_v3_large", 12.0, "L")],
             versions={**VERSIONS, "ai-edge-litert": "2.4.0"})
    code, out, _ = cli("compare", a, b)
    # identical model files on a changed runtime are what is tested, not a yardstick of the host
    assert code == 1 and "runtime changed: ai-edge-litert 2.3.0 in a.json, 2.4.0 in b.json" in out
    assert out.count("regression") == 2 and "no reference cell" in out


def test_a_cell_without_an_interval_is_not_compared_exit_2(cli, tmp_path):
    a = _doc(tmp_path / "a.json", [("mobilenet_v3_small", 3.0, "a")], ci=False)
    b = _doc(tmp_path / "b.json", [("mobilenet_v3_small", 3.0, "b")], ci=False)
    for fmt in ("text", "md", "json"):
        code, out, _ = cli("compare", a, b, "--format", fmt)
        assert code == 2 and "not compared" in out
        assert "| unchanged |" not in out and not any(line.startswith("unchanged") for line in out.splitlines())
        assert fmt != "json" or [c["verdict"] for c in json.loads(out)["comparisons"]] == ["not compared"]


def test_a_crash_is_exit_2_never_the_regression_exit_1(cli, tmp_path, monkeypatch):
    import mbv3bench.compare.saved as saved

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(saved, "compare_documents", broken)
    a = _doc(tmp_path / "a.json", [("mobilenet_v3_small", 3.0, "a")])
    one_line_error(cli("compare", a, a), "compare failed (TypeError: unsupported operand at",
                   "nothing was compared")


# ---- item 13: a baseline records its results' own runs ------------------------------------------

def test_a_baseline_from_the_store_records_the_core_and_versions_of_its_runs(cli, tmp_path):
    from mbv3bench.core.results import Latency, Result
    from mbv3bench.store import Store

    db = tmp_path / "r.sqlite"
    measured_on = {**DEVICE, "core": 0}
    with Store(db) as store:
        run = store.start_run({**VERSIONS, "ai-edge-litert": "1.0.0-then", "device": measured_on})
        result = Result(variant="mobilenet_v3_small", runtime="litert", format="tflite", device="local", threads=1,
                        core=0, n=100, latency=Latency(median=3.0, ci95=(2.9, 3.1)),
                        settings={"threads": 1, "core": 0, "format": "tflite", "xnnpack": True},
                        artifact_sha256="a")
        store.add_measurement(run, "k1", result)
    code, _, err = cli("baseline", "save", str(tmp_path / "b.json"), "--db", str(db))
    assert code == 0, err
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["device"]["core"] == 0 and doc["device"]["cpu_model"] == "Test CPU"
    assert doc["provenance"]["versions"]["ai-edge-litert"] == "1.0.0-then"
    code, out, _ = cli("baseline", "show", str(tmp_path / "b.json"))
    assert code == 0 and "ai-edge-litert 1.0.0-then" in out and "core 0" in out


def test_a_baseline_from_a_file_keeps_its_versions_or_says_none_were_recorded(cli, tmp_path):
    recorded = _doc(tmp_path / "run.json", [("mobilenet_v3_small", 3.0, "a")],
                    versions={**VERSIONS, "ai-edge-litert": "0.9-then"})
    assert cli("baseline", "save", str(tmp_path / "b.json"), "--from", recorded)[0] == 0
    assert json.loads((tmp_path / "b.json").read_text())["provenance"]["versions"]["ai-edge-litert"] == "0.9-then"
    unknown = _doc(tmp_path / "old.json", [("mobilenet_v3_small", 3.0, "a")], versions=None)
    assert cli("baseline", "save", str(tmp_path / "b2.json"), "--from", unknown)[0] == 0
    assert json.loads((tmp_path / "b2.json").read_text())["provenance"]["versions"] is None
    assert "versions not recorded" in cli("baseline", "show", str(tmp_path / "b2.json"))[1]


# ---- lookup tables: every command that reads one -----------------------------------------------

def _lut_commands(lut: str, tmp: Path):
    return [("lut", "predict", ARCH, "--lut", lut), ("lut", "export", lut, "--format", "csv", "-o", str(tmp / "t.csv")),
            ("lut", "validate", "--lut", lut, "-n", "1", "--db", str(tmp / "v.sqlite")),
            ("lut", "fit", "--lut", lut, "-n", "1", "--db", str(tmp / "v.sqlite"))]


@pytest.fixture(scope="module")
def table_doc() -> dict:
    return json.loads(TABLE.read_text())


def test_every_key_of_a_real_table_given_a_wrong_type(cli, table_doc, tmp_path):
    first = next(iter(table_doc["blocks"]))
    checked = 0
    for path in _paths(table_doc):
        if not path or path == ("schema",) or (path[0] == "blocks" and len(path) > 1 and path[1] != first):
            continue
        original = eval_path(table_doc, path)
        for wrong in WRONG:
            if original is None or _type(wrong) == _type(original):
                continue
            bad = _write(tmp_path / "bad.json", _set(table_doc, path, wrong))
            code, out, err = cli("lut", "predict", ARCH, "--lut", bad)
            assert "Traceback" not in err and code in (0, 2), (path, wrong, err)
            if _free(path):
                continue
            one_line_error((code, out, err), bad, _shown(path))
            checked += 1
    assert checked > 60


BLOCK = ("blocks", "ofa_mobilenet_v3:block=stem,res=160")


@pytest.mark.parametrize("path, value, raw", [
    ((*BLOCK, "ms"), 424242.5, {"424242.5": "NaN"}),
    ((*BLOCK, "ms"), -15, None),
    ((*BLOCK, "ms"), 0, None),
    ((*BLOCK, "ms"), 424242.5, {"424242.5": "1e400"}),
    ((*BLOCK, "ms"), "0.6", None),
    ((*BLOCK, "ci95_ms"), [0.6], None),
    ((*BLOCK, "ci95_ms"), [0.7, 0.8], None),
    ((*BLOCK, "std_ms"), -1, None),
    ((*BLOCK, "n"), 0, None),
    (("correction", "scale"), 0, None),
    (("correction", "factors"), {"stem": -2}, None),
    (("settings",), 3, None),
    (("settings", "threads"), "one", None),
    (("protocol", "runs"), "many", None),
    (("protocol", "max_secs"), -1, None),
    (("statistic",), "p99", None),
    (("resolutions",), [], None),
    (("blocks",), {}, None),
    (("device",), "local", None),
])
def test_impossible_table_values_are_refused_by_every_lut_command(cli, table_doc, tmp_path, path, value, raw):
    bad = _write(tmp_path / "bad.json", _set(table_doc, path, value), raw)
    for args in _lut_commands(bad, tmp_path):
        one_line_error(cli(*args), bad, _shown(path))
    assert not (tmp_path / "t.csv").exists() and not (tmp_path / "v.sqlite").exists()


def test_a_block_id_of_another_space_is_named(cli, table_doc, tmp_path):
    doc = copy.deepcopy(table_doc)
    doc["blocks"]["ofa_mobilenet_v3:res=160"] = doc["blocks"].pop(BLOCK[1])   # a network, not a block
    bad = _write(tmp_path / "bad.json", doc)
    one_line_error(cli("lut", "predict", ARCH, "--lut", bad), bad, 'blocks["ofa_mobilenet_v3:res=160"]',
                   "not a block of ofa_mobilenet_v3")


def test_a_deep_table_is_refused_before_parsing(cli, table_doc, tmp_path):
    bad = _write(tmp_path / "deep.json", _set(table_doc, ("build",), 424242.5), {"424242.5": "{\"a\":" * 5000 + "1"
                                                                                   + "}" * 5000})
    one_line_error(cli("lut", "predict", ARCH, "--lut", bad), bad, "nested 5001 levels deep", "at most 64")


def test_the_real_tables_are_read_and_predict_finite_positive_times(cli, tmp_path):
    for table in sorted(TABLE.parent.glob("*-*.json")):
        doc = json.loads(table.read_text())
        if doc.get("schema") != "mbv3bench-lut/1":
            continue
        code, out, err = cli("lut", "predict", doc["space"] + f":res={doc['resolutions'][0]}", "--lut", str(table),
                             "--json")
        assert code == 0, err
        assert 0 < json.loads(out)["predicted_ms"] < 1e4
