"""`compare --ab`: A and B measured now. By instructions the verdict is deterministic, so it is
what a test can assert; the time path's false-alarm and detection rates are measured by
benchmarks/false_alarms.py, not asserted here."""
import json
import shutil

import pytest

from conftest import SMALL, assert_results_doc


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind (apt-get install valgrind)")
def test_naive_hswish_is_a_regression_by_instructions(cli, tmp_path):
    db = tmp_path / "ab.sqlite"
    code, out, err = cli("compare", "--ab", SMALL, f"{SMALL},hswish=naive", "--metric", "instructions",
                         "--format", "json", "--db", str(db))
    assert code == 1, err
    doc = json.loads(out)
    (c,) = doc["comparisons"]
    assert c["verdict"] == "regression" and c["metric"] == "instructions" and c["ratio"] > 1.01
    assert c["ci95"] == [c["ratio"], c["ratio"]] and c["p_value"] == 0.0
    code, out, _ = cli("show", "2", "--db", str(db), "--json")   # the counts behind the verdict are stored
    assert code == 0
    assert_results_doc(json.loads(out))


def test_bad_ab_input_is_one_line(cli, tmp_path):
    for args, message in ((["--ab", "nonet", SMALL], "unknown network"),
                          (["--ab", SMALL, SMALL, "--runtime", "tflite"], "unknown runtime"),
                          (["--ab", SMALL, SMALL, str(tmp_path / "x.json")], "not both")):
        code, _, err = cli("compare", *args, "--db", str(tmp_path / "ab.sqlite"))
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
