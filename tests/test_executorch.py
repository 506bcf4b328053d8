"""ExecuTorch: `.pte` exports (float32 and int8) checked against torch, the `executorch` runtime in
the same rounds as LiteRT (paired ratios across runtimes), per-layer rows from ETDump under the
paper's layer names, and a program made outside the tool."""
import json

import pytest

from conftest import SMALL
from test_run_rounds import ROUNDS


def test_run_measures_executorch_beside_litert_in_the_same_rounds(cli, tmp_path):
    out = tmp_path / "run.json"
    code, stdout, err = cli("run", "--models", SMALL, "--runtimes", "executorch,litert", "--db",
                            str(tmp_path / "r.sqlite"), "--json", str(out), "--out-dir", str(tmp_path), *ROUNDS)
    assert code == 0, err
    et, lite = json.loads(out.read_text())["results"]
    assert (et["runtime"], et["format"], lite["runtime"], lite["format"]) == ("executorch", "pte", "litert", "tflite")
    assert et["rounds"]["group"] == lite["rounds"]["group"]          # one process, one set of rounds
    (q,) = et["ratios"]
    assert q["vs"] == {"variant": lite["variant"], "format": "tflite"} and q["units"] == 3
    assert q["ci95"][0] <= q["ratio"] <= q["ci95"][1]
    layers = [row["name"] for row in et["per_layer"]]
    assert layers[0] == "stem" and "bneck1" in layers and layers[-1] == "classifier"
    assert "(unattributed)" not in layers
    # the rows share out the headline by their part of the profiled run; XNNPACK's events are whole
    # microseconds, so they fall short of it, never beyond
    ratio = et["per_layer_sum_ms"] / et["latency_ms"]["value"]
    assert 0.3 < ratio <= 1.05, ratio


def test_int8_program_is_exported_and_checked_by_top1(cli):
    code, stdout, err = cli("export", SMALL, "--format", "pte-int8")
    assert code == 0, err
    assert "top-1 agreement" in stdout and ".pte" in stdout


def test_program_made_elsewhere_profiles_per_op_without_its_etrecord(cli, tmp_path):
    from mbv3bench.export.pte import export_pte
    from mbv3bench.zoo.build import build

    path = export_pte(build(SMALL), 96, tmp_path / "other.pte", tmp_path / "record.etrecord")
    code, stdout, err = cli("profile", str(path), "--json", *ROUNDS)
    assert code == 0, err
    (r,) = json.loads(stdout)["results"]
    assert r["runtime"] == "executorch" and len(r["per_layer"]) > 10
    assert any(row["name"].startswith("Convolution") for row in r["per_layer"])
    (tmp_path / "record.etrecord").rename(tmp_path / "other.etrecord")   # beside it: by module
    code, stdout, err = cli("profile", str(path), "--json", *ROUNDS)
    assert code == 0, err
    assert {"bneck1", "classifier"} <= {row["name"] for row in json.loads(stdout)["results"][0]["per_layer"]}


def test_instructions_on_executorch_is_one_line(cli, tmp_path):
    code, _, err = cli("run", "--metric", "instructions", "--models", SMALL, "--runtimes", "executorch",
                       "--db", str(tmp_path / "r.sqlite"), "--out-dir", str(tmp_path))
    assert code == 2 and "not supported for runtime executorch" in err and err.count("\n") == 1


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, b"<?xml version='1.0'?>"])
def test_a_file_that_is_not_a_program_is_one_line(cli, tmp_path, content):
    path = tmp_path / "bad.pte"
    path.write_bytes(content)
    code, _, err = cli("profile", str(path))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "bad.pte" in err


def test_every_runtime_of_the_registry_is_one_the_schemas_allow():
    from mbv3bench.core.registry import RUNTIMES
    from conftest import REPO

    for name in ("results-v1", "lut-v1"):
        text = (REPO / "mbv3bench" / "data" / "schema" / f"{name}.schema.json").read_text()
        doc = json.loads(text)
        enums = []

        def walk(node):
            if isinstance(node, dict):
                if "runtime" in node.get("properties", {}):
                    enums.append(node["properties"]["runtime"].get("enum"))
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(doc)
        assert enums and all(tuple(e) == RUNTIMES for e in enums), (name, enums)
