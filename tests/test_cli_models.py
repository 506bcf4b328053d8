import json
import subprocess
import sys

import pytest


def test_models_json_lists_the_catalog(cli):
    code, out, _ = cli("models", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["mobilenet_v3_large"]["params"] == 5_483_032
    assert "width" in rows["mobilenet_v2"]["knobs"] and "hswish" not in rows["mobilenet_v2"]["knobs"]


def test_summary_json_shape(cli):
    code, out, _ = cli("summary", "mobilenet_v3_small:width=0.75,res=160", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["variant"] == "mobilenet_v3_small:res=160,width=0.75"
    assert doc["layers"][0]["name"] == "stem" and doc["layers"][-1]["name"] == "classifier"
    assert set(doc["layers"][0]) == {"name", "op", "in_shape", "out_shape", "madds", "params", "bytes"}
    assert sum(l["madds"] for l in doc["layers"]) == doc["madds"]


def test_summary_table_has_every_layer(cli):
    code, out, _ = cli("summary", "mobilenet_v3_large")
    assert code == 0
    for name in ("stem", "bneck15", "last_conv", "pool", "head_conv", "classifier", "total"):
        assert name in out


@pytest.mark.parametrize("variant", ["nonet", "mobilenet_v3_large:bad=1", "mobilenet_v3_large:width=0",
                                     "mobilenet_v3_large:res=17", "mobilenet_v3_large:act=hswish@999", "::"])
def test_bad_variant_is_one_line_and_nonzero(cli, variant):
    code, out, err = cli("summary", variant)
    assert code != 0
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_help_does_not_import_torch():
    code = "import sys; from mbv3bench.cli import main; sys.argv=['mbv3bench','--help']\n" \
           "try: main()\nexcept SystemExit: pass\nassert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.parametrize("args, names", [
    (["table", "--paper-table", "8"], "'8' is not one of '3', '4', '5', '6', '7'"),
    (["run", "--runs", "abc"], "'abc' is not a valid integer"),
    (["bogus"], "No such command 'bogus'"),
    (["summary"], "Missing argument 'VARIANT'"),
])
def test_click_usage_errors_are_one_line_too(cli, args, names):
    code, out, err = cli(*args)
    assert code == 2 and err.startswith("error: ") and names in err and err.count("\n") == 1
