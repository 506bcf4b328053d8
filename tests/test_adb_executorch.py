"""ExecuTorch on a phone: executor_runner pushed beside the .pte, timed in the same rounds as
benchmark_model, its ETDump pulled back into the paper's layers, and its failures in one line;
through the ADB double with tests/fake_executor_runner.py (real runs, a real ETDump)."""
from __future__ import annotations

import hashlib
import json

import pytest

from mbv3bench.measure.pinned import MeasurementError

from adb_double import AdbDeviceDouble
from phone_helpers import FAKE_RUNNER, VARIANT, build_of, job, open_on, run_on

pytestmark = pytest.mark.usefixtures("no_leaked_threads", "adb_key")
PAPER_LAYERS = {"stem", "last_conv", "pool", "head_conv", "classifier"} | {f"bneck{i}" for i in range(1, 12)}
ROUNDS = 2          # phone_helpers.FAST: --processes 2, --runs 5, --warmup-runs 1, --profile-runs 2
RUNNER = ["--executorch-runner", str(FAKE_RUNNER)]
WORKDIR = "/data/local/tmp/mbv3bench"


def _one_line(stderr: str) -> str:
    (line,) = stderr.strip().splitlines()
    return line


def _runs(phone, binary: str) -> list[str]:
    return [c for c in phone.shell_commands if f"{binary} --" in c and "--help" not in c]


def test_executorch_beside_litert_on_a_phone(cli, phone, artifact, program, tmp_path):
    out = tmp_path / "run.json"
    code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--runtimes", "executorch,litert",
                             *RUNNER, "--json", str(out))
    assert code == 0, stderr
    et, lite = json.loads(out.read_text())["results"]
    assert (et["runtime"], et["format"], lite["runtime"]) == ("executorch", "pte", "litert")
    # one set of rounds: each round runs both binaries, so ExecuTorch/LiteRT is a paired ratio
    assert et["rounds"]["group"] == lite["rounds"]["group"] and et["rounds"]["processes"] == ROUNDS
    (ratio,) = et["ratios"]
    assert ratio["vs"]["format"] == "tflite" and ratio["units"] == ROUNDS
    assert et["n"] == 5 * ROUNDS and [len(b) for b in et["blocks_ms"]] == [1] * ROUNDS
    names = [row["name"] for row in et["per_layer"]]
    assert names[0] == "stem" and names[-1] == "classifier" and set(names) <= PAPER_LAYERS
    assert {f"bneck{i}" for i in range(1, 12)} <= set(names)
    assert et["per_layer_sum_ms"] > 0

    runs = _runs(phone, "executor_runner")   # the rounds, a token timed run, then the profile
    model = f"{WORKDIR}/{program.path.name}"
    etdump = model.removesuffix(".pte") + ".etdp"
    assert len(runs) == ROUNDS + 2 and all(c.startswith("{ taskset 10 ") for c in runs)
    for c in runs:
        assert f"--model_path={model}" in c and "--cpu_threads=1" in c and f"--etdump_path={etdump}" in c
    assert "--num_executions=6" in runs[0] and "--num_executions=3" in runs[-1]   # 1 + 5, then 1 + 2
    assert len(_runs(phone, "benchmark_model")) == ROUNDS + 2
    state = et["device_state"]
    binary = state["evidence"]["binary"]
    assert binary["sha256"] == hashlib.sha256(FAKE_RUNNER.read_bytes()).hexdigest()
    assert binary["device_path"] == f"{WORKDIR}/executor_runner" and binary["event_tracer"].startswith("built in")
    (timing,) = state["evidence"]["runs"]   # the round's (the profile is apart from the rounds)
    assert timing["purpose"] == "timing" and "Model executed successfully 6 time(s)" in timing["output"]
    assert state["before"]["core_mhz"] == 2803.2 and state["affinity"]["took"]
    assert not phone.device_path(WORKDIR).exists()   # program, ETDump and binaries removed


def test_only_the_binaries_asked_for_are_pushed(phone, program):
    target = open_on(phone, runtimes=("executorch",))
    try:
        (check,) = [c for c in phone.shell_commands if "--help" in c]
        assert f"{WORKDIR}/executor_runner --help" in check
        raw = target.measure(job(program.path, runtime="executorch"))
    finally:
        target.close()
    assert not any("benchmark_model" in c for c in phone.shell_commands)
    assert raw.summary["n"] == 3 and raw.summary["min"] <= raw.summary["median"] <= raw.summary["max"]
    timing, profile = raw.device_state["evidence"]["runs"]
    assert (timing["purpose"], profile["purpose"]) == ("timing", "op_profile")
    assert "--num_executions=4" in timing["command"] and "Iteration 4 of 4" in timing["output"]
    assert f"ETDump written to file '{WORKDIR}/" in profile["output"]
    # the pulled ETDump's events under the paper's layers, XNNPACK's operators among them
    assert {o.layer for o in raw.ops} <= PAPER_LAYERS and len(raw.ops) > 50
    assert any(o.op.startswith("Convolution (NHWC, F32)") for o in raw.ops)
    assert 0 < sum(o.ms for o in raw.ops) <= 1.05 * raw.profiled_run_ms


@pytest.mark.parametrize("given, expected", [
    (None, "error: no executor_runner binary for pixel3: build ExecuTorch's executor_runner with the Android NDK "
           "(see README, Phones: ExecuTorch), then pass --executorch-runner PATH or set executorch_runner in the "
           "device profile"),
    ("nope", "error: executor_runner binary {} not found: build ExecuTorch's executor_runner with the Android NDK "
             "(see README, Phones: ExecuTorch) or pass --executorch-runner PATH"),
])
def test_a_missing_runner_is_one_line_before_anything_is_exported(cli, phone, tmp_path, given, expected):
    from mbv3bench.export.artifacts import artifact_dir

    path = tmp_path / "nope"
    # a variant nothing has exported: the line comes before its export would
    code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", "mobilenet_v3_small:res=48,width=0.35",
                             "--runtimes", "executorch", *(["--executorch-runner", str(path)] if given else []))
    assert code == 2 and _one_line(stderr) == expected.format(path)
    assert not any(artifact_dir().rglob("*res=48*"))


def test_unauthorized_phone_and_full_storage(cli, program, tmp_path):
    with AdbDeviceDouble(require_auth=True, accept_new_keys=False) as phone:
        code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--runtimes", "executorch",
                                 *RUNNER)
    assert code == 2 and _one_line(stderr).startswith(f"error: {phone.address} has not authorized our ADB key ")
    with AdbDeviceDouble() as phone:
        phone.set_free_space(1000)
        code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--runtimes", "executorch",
                                 *RUNNER)
    assert code == 2 and _one_line(stderr) == (
        f"error: {phone.address} is out of storage: the push of fake_executor_runner.py "
        f"({FAKE_RUNNER.stat().st_size / 1e3:.1f} kB) to {WORKDIR}/executor_runner failed (write failed: No space "
        "left on device); free space on the phone, then run again with --resume")


def test_a_file_that_is_not_a_program(phone, tmp_path):
    bad = tmp_path / "bad.pte"
    bad.write_bytes(b"not a program")
    target = open_on(phone)
    try:
        with pytest.raises(MeasurementError) as e:
            target.measure(job(bad, runtime="executorch", per_layer=False))
    finally:
        target.close()
    assert str(e.value) == (f"executor_runner failed on {phone.address} (exit 1): Failed to parse model file "
                            f"{WORKDIR}/bad.pte")


def test_an_et_check_abort_is_one_line(cli, phone, program, tmp_path):
    runner = build_of(FAKE_RUNNER, tmp_path / "executor_runner", FAIL_EXECUTION=0x14)
    code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--runtimes", "executorch",
                             "--executorch-runner", str(runner))
    assert code == 1 and _one_line(stderr) == (
        f"error: 1 measurement(s) failed: executor_runner crashed on {phone.address} (SIGABRT, exit 134): In "
        "function main(), assert failed (status == Error::Ok): Execution of method forward failed with status 0x14")
    assert phone.fixed_performance_log.read_text() == "true\nfalse\n"   # restored after the failure too


def test_builds_that_print_less(phone, program, tmp_path):
    """A build logging to logcat (the android PAL), one before v1.3 (no per-iteration lines) and one
    without the event tracer (no ETDump, so no layers: said as a warning)."""
    logcat = build_of(FAKE_RUNNER, tmp_path / "logcat_runner", POSIX_PAL=False)
    older = build_of(FAKE_RUNNER, tmp_path / "older_runner", PER_ITERATION=False, EVENT_TRACER=False)
    target = open_on(phone, runner=logcat)
    try:
        with pytest.raises(MeasurementError) as e:
            target.measure(job(program.path, runtime="executorch", per_layer=False))
    finally:
        target.close()
    assert str(e.value).startswith(f"executor_runner on {phone.address}: not an executor_runner log: no "
                                   "`executorch:` log line; a build with the android PAL")
    assert "-DEXECUTORCH_PAL_DEFAULT=posix" in str(e.value)
    target = open_on(phone, runner=older)
    try:
        raw = target.measure(job(program.path, runtime="executorch"))
    finally:
        target.close()
    # only the closing line: the mean of every execution, the warm-up's too, and no spread
    assert raw.summary["n"] == 4 and raw.summary["mean"] > 0 and raw.summary["median"] is None
    assert raw.ops == [] and raw.profiled_run_ms is None
    (warning,) = target.warnings
    assert warning.startswith(f"{older}: built without the event tracer: its cells get no per-layer times")
    profile = raw.device_state["evidence"]["runs"][1]
    assert "--etdump_path" not in profile["command"] and "Iteration" not in profile["output"]
