"""The Android path end to end against the ADB device double: run, faults, resume, quoting,
cool-down, `devices`, and `ingest` of real benchmark_model logs."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
from pathlib import Path

import pytest

from adb_double import AdbDeviceDouble
from conftest import FIXTURES, assert_results_doc
from phone_helpers import FAST, OTHER, VARIANT, job, open_on, run_on

PAPER_LAYERS = {"stem", "last_conv", "pool", "head_conv", "classifier"} | {f"bneck{i}" for i in range(1, 12)}
ROUNDS = 2    # --processes on a phone (phone_helpers.FAST): rounds of one benchmark_model run per cell

pytestmark = pytest.mark.usefixtures("no_leaked_threads", "adb_key")


@pytest.mark.parametrize("xnnpack", [True, False])
def test_run_on_a_phone(cli, phone, artifact, tmp_path, xnnpack):
    from mbv3bench.core.results import RawMeasurement
    from mbv3bench.runner import Subject, result_of

    out = tmp_path / "run.json"
    code, stdout, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--json", str(out),
                                *([] if xnnpack else ["--no-xnnpack"]))
    assert code == 0, stderr
    doc = json.loads(out.read_text())
    assert_results_doc(doc)
    local_shape = result_of(RawMeasurement(samples_ms=[1.0, 2.0]),
                            Subject(VARIANT, "litert", "tflite", None, None, None, (1, 3, 96, 96)),
                            device="local", core=0, settings={"threads": 1}).to_json()
    (result,) = doc["results"]   # the phone's default runtimes: litert alone
    assert (result["runtime"], result["format"]) == ("litert", "tflite")
    assert set(doc) == {"schema", "device", "protocol", "versions", "results"} and set(result) == set(local_shape)
    assert doc["device"]["model"] == "Pixel 3" and doc["device"]["core"] == 4
    assert result["latency_ms"]["mean"] > 0 and result["latency_ms"]["median"] > 0 and result["n"] == 5 * ROUNDS
    assert [len(b) for b in result["blocks_ms"]] == [1] * ROUNDS and result["rounds"]["processes"] == ROUNDS
    names = [row["name"] for row in result["per_layer"]]
    assert set(names) <= PAPER_LAYERS and {"stem", "bneck1", "bneck11", "classifier"} <= set(names)
    state = result["device_state"]
    for when in ("before", "after"):
        assert state[when]["core_mhz"] == 2803.2 and state[when]["temps_c"]["cpu4-gold-usr"] == 36.0
    assert state["battery_level"] == 80 and state["cooldowns"] == []
    # pinned to cpu4 (mask 10), one thread, the protocol's flags, XNNPACK as asked; the rounds, then
    # the profile (after a token timed run that is not kept)
    runs = [c for c in phone.shell_commands if "benchmark_model --graph" in c]
    assert len(runs) == ROUNDS + 2 and all(c.startswith("{ taskset 10 ") and "--num_threads=1" in c for c in runs)
    assert f"--use_xnnpack={str(xnnpack).lower()}" in runs[0] and "--enable_op_profiling=true" in runs[-1]
    assert not any("--enable_op_profiling=true" in c for c in runs[:-1])
    assert not phone.device_path("/data/local/tmp/mbv3bench").exists()  # cleaned up
    key = Path(os.environ["MBV3BENCH_ADB_KEY"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


@pytest.mark.parametrize("args, runtime", [
    (["run", "--models", VARIANT, "--runtimes", "onnxruntime"], "onnxruntime"),
    (["run", "--models", VARIANT, "--runtimes", "litert,torch"], "torch"),
    (["profile", VARIANT, "--runtime", "onnxruntime"], "onnxruntime"),
    (["lut", "build", "--space", "ofa_mobilenet_v3", "--res", "160", "--runtime", "onnxruntime", "-o", "t.json"],
     "onnxruntime"),
])
def test_a_runtime_a_phone_cannot_run_is_refused_before_anything_runs(cli, phone, args, runtime):
    code, _, stderr = cli(*args, "--device", "pixel3", "--serial", phone.address)
    assert code == 2 and stderr == f"error: runtime {runtime} cannot run on device pixel3 (android); it runs: litert, executorch\n"
    assert phone.shell_commands == []   # the phone was never asked anything


def test_disconnect_mid_grid_then_resume(cli, artifact, two_variants, tmp_path):
    from mbv3bench.store import Store

    with AdbDeviceDouble() as phone:
        count = phone._count_shell
        runs_of_other = []

        def drop_in_second_round(command):  # the link dies as the second cell's second run starts
            if "benchmark_model --graph" in command and two_variants.name in command:
                runs_of_other.append(command)
                if len(runs_of_other) == 2:
                    phone.disconnect_after(0)
            return count(command)

        phone._count_shell = drop_in_second_round
        code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", f"{VARIANT},{OTHER}")
        address = phone.address
    assert code == 1
    assert stderr.strip().splitlines() == [
        f"error: device {address} disconnected during the measurement of {OTHER}; "
        "finished measurements are kept; reconnect and run again with --resume; its fixed performance mode "
        "stays on: end it with `adb shell cmd power set-fixed-performance-mode-enabled false`"]
    with Store(tmp_path / "r.sqlite") as store:   # the finished first round of both cells is kept
        kept = store.measurements()
    assert sorted(m.variant for m in kept) == sorted([VARIANT, OTHER])
    assert all(m.rounds["stopped_by"] == "device lost" and m.rounds["processes"] == 1 for m in kept)

    with AdbDeviceDouble() as phone:
        code, stdout, stderr = run_on(cli, phone.address, tmp_path, "--models", f"{VARIANT},{OTHER}", "--resume",
                                    "--json", str(tmp_path / "resumed.json"))
        commands = list(phone.shell_commands)
    assert code == 0, stderr
    results = json.loads((tmp_path / "resumed.json").read_text())["results"]
    assert [(r["variant"], r.get("resumed", False)) for r in results] == [(VARIANT, True), (OTHER, True)]
    assert not any("benchmark_model --graph" in c for c in commands)  # nothing redone


def test_arguments_reach_the_shell_quoted(phone, artifact, tmp_path):
    crafted = tmp_path / "it's a ;reboot; \"model\".tflite"
    shutil.copy(artifact.path, crafted)
    target = open_on(phone)
    try:
        measured = target.measure(job(crafted, variant="x;reboot 'y'", per_layer=False))
    finally:
        target.close()
    assert measured.summary["mean"] > 0
    assert not phone.reboot_log.exists()
    remote = f"/data/local/tmp/mbv3bench/{crafted.name}"
    quoted = (shlex.quote(remote), shlex.quote(f"--graph={remote}"))
    assert f"sha256sum {quoted[0]}" in "\n".join(phone.shell_commands)
    assert any(quoted[1] in c for c in phone.shell_commands)
    for command in phone.shell_commands:  # ";reboot" appears only inside the quoted forms
        assert "reboot" not in command.replace(quoted[1], "").replace(quoted[0], "")


@pytest.mark.parametrize("script, expected", [
    ("#!/bin/sh\necho 'INFO: STARTING!'\necho 'Segmentation fault in xnnpack' >&2\nkill -SEGV $$\n",
     "crashed on {} (SIGSEGV, exit 139): Segmentation fault in xnnpack"),
    ("this is not a program\n", "failed on {} (exit 127): "),
])
def test_broken_binary_is_one_line(cli, phone, artifact, tmp_path, script, expected):
    binary = tmp_path / "benchmark_model"
    binary.write_text(script)
    code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--benchmark-binary", str(binary))
    assert code == 1
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: 1 measurement(s) failed: benchmark_model ")
    assert expected.format(phone.address) in line
    assert phone.fixed_performance_log.read_text() == "true\nfalse\n"  # restored after the failure too


def test_missing_binary_and_refused_push(cli, phone, artifact, tmp_path):
    code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--benchmark-binary", str(tmp_path / "nope"))
    assert code == 2
    assert stderr.strip().splitlines() == [f"error: benchmark_model binary {tmp_path / 'nope'} not found: download "
                                           "TFLite's prebuilt Android benchmark_model (see README, Phones) or pass "
                                           "--benchmark-binary PATH"]
    phone.fail_pushes()  # the binary goes first, before any measurement: nothing can run, so exit 2
    code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT)
    assert code == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: push of ") and "refused: couldn't create file: Permission denied" in line


@pytest.mark.parametrize("heat", ["temps", "clock"])
def test_hot_phone_cools_down_and_measures_again(phone, artifact, heat):
    if heat == "temps":
        phone.set_temps((81000, 82000))
    else:
        phone.set_cur_freq(4, 825600)
    target = open_on(phone, cooldown_secs=0)
    try:
        state = target.measure(job(artifact.path, per_layer=False)).device_state
    finally:
        target.close()
    # an idle core clocks down anyway, so only heat can keep a cool-down from ending; a phone hot
    # before the first run cools down before it too
    assert [c["cooled"] for c in state["cooldowns"]] == ([True] * 2 if heat == "clock" else [False] * 3)
    reason = "temperature above 50 C: cpu0-silver-usr 81 C" if heat == "temps" else "core 4 at 825.6 of 2803.2 MHz"
    assert state["cooldowns"][0]["reason"].startswith(reason) and state["throttled"].startswith(reason)
    assert sum("benchmark_model --graph" in c for c in phone.shell_commands) == 3


def test_devices_lists_profiles_and_phones(cli, phone):
    code, stdout, _ = cli("devices", "--json", "--serial", phone.address)
    assert code == 0
    doc = json.loads(stdout)
    assert {"pixel1", "pixel2", "pixel3", "pixel4"} <= {p["name"] for p in doc["profiles"]}
    assert "_template" not in {p["name"] for p in doc["profiles"]}
    (found,) = [p for p in doc["phones"] if p["serial"] == phone.address]
    assert (found["model"], found["android"], found["abi"]) == ("Pixel 3", "12", "arm64-v8a")
    assert (found["transport"], found["link"]) == ("direct", "adb-shell over TCP")
    assert any(note.startswith("no adb server answers on 127.0.0.1:") for note in doc["notes"])
    code, stdout, _ = cli("devices")
    assert code == 0 and "none attached" in stdout and "no adb server answers" in stdout


# (file, e2e avg us or None, op rows, sum avg ms or None, init rows) from fixtures/benchmark_model/SOURCES.md
LOGS = [
    ("01_old-format-spaces_start-col_mnasnet-fp32.txt", 80670.2, 77, 80.637, 0),
    ("02_old-format_no-op-profiling_mobilenet-v1-quant.txt", 747733, 0, None, 0),
    ("03_tab-start-col_mem-delta_sci-notation_mobilenet-v1.txt", 2950340, 31, 2949.903, 1),
    ("04_nnapi-delegate-rows_profile-only_yolov5s-fp32.txt", None, 11, 158.716, 2),
    ("05_no-op-profiling_fragment_yolov5s-int8.txt", 95788.3, 0, None, 0),
    ("06_external-vx-delegate_quant-uint8_ssd-mobilenet.txt", 154534, 2, 154.488, 2),
    ("07_litert-new-format_xnnpack-ops_fc-fp32-sme2.txt", 464.545, 5, 0.702, 0),
]




@pytest.mark.parametrize("name, avg_us, rows, sum_ms, init_rows", LOGS)
def test_ingest_fixture(cli, tmp_path, name, avg_us, rows, sum_ms, init_rows):
    db = str(tmp_path / "r.sqlite")
    code, stdout, _ = cli("ingest", str(FIXTURES / name), "--device", "pixel1", "--db", db, "--json")
    assert code == 0
    assert_results_doc(json.loads(stdout))
    (r,) = json.loads(stdout)["results"]
    assert r["latency_ms"]["mean"] == (None if avg_us is None else pytest.approx(avg_us / 1000))
    assert len(r["per_layer"]) == rows and len(r["init_layers"]) == init_rows
    assert r["per_layer_sum_ms"] == (None if sum_ms is None else pytest.approx(sum_ms, abs=1e-6))
    if avg_us is None:
        assert r["notes"] and "no end-to-end average" in r["notes"][0]
    code, stdout, _ = cli("ingest", str(FIXTURES / name), "--device", "pixel1", "--db", db)
    assert code == 0 and "already in" in stdout


def test_ingest_rows_are_the_logs(cli, tmp_path):
    code, stdout, _ = cli("ingest", str(FIXTURES / LOGS[6][0]), "--db", str(tmp_path / "r.sqlite"),
                          "--variant", "mobilenet_v3_large", "--json")
    (r,) = json.loads(stdout)["results"]
    assert r["variant"] == "mobilenet_v3_large" and r["device"] == "external"
    assert r["per_layer"][3] == {"name": "Delegate/Fully Connected (NC, PF32) GEMM:1",
                                 "op": "Fully Connected (NC, PF32) GEMM", "ms": 0.382}
    assert (r["latency_ms"]["std"], r["latency_ms"]["min"], r["latency_ms"]["max"], r["n"]) == (0.013, 0.442, 0.979, 2112)
    code, stdout, _ = cli("ingest", str(FIXTURES / LOGS[3][0]), "--db", str(tmp_path / "r.sqlite"), "--json")
    (r,) = json.loads(stdout)["results"]
    assert r["latency_ms"]["mean"] is None and "TfLiteNnapiDelegate" in {row["op"] for row in r["per_layer"]}


def test_ingest_rejects_a_non_log(cli, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Pixel 3, MobileNetV3-Small: about 14 ms\n")
    code, _, stderr = cli("ingest", str(notes), "--db", str(tmp_path / "r.sqlite"))
    assert code == 2
    assert stderr.strip().splitlines() == [
        f"error: {notes}: not a benchmark_model log: no timing line and no operator table found"]


@pytest.mark.parametrize("rounds", [1, 2])
def test_compare_ab_on_a_phone_tests_only_what_has_an_interval(cli, phone, artifact, tmp_path, rounds):
    summary = tmp_path / "summary.md"
    code, out, err = cli("compare", "--ab", VARIANT, OTHER, "--device", "pixel3", "--serial", phone.address,
                         "--db", str(tmp_path / "r.sqlite"), "--format", "json", "--summary", str(summary),
                         *FAST, "--processes", str(rounds))   # the last --processes counts
    doc = json.loads(out)
    (c,) = doc["comparisons"]
    assert "measured now on pixel3 (Pixel 3), core 4" in doc["what"]
    if rounds == 1:   # one benchmark_model run of each: no interval, so no verdict either way
        assert code == 2 and c["verdict"] == "not compared" and c["ratio"] is None and "--processes" in c["how"]
        assert "not compared" in summary.read_text()
    else:
        assert code in (0, 1) and c["verdict"] != "not compared" and None not in c["ci95"], err
