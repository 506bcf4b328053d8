"""A known clock and the evidence kept, against the ADB device double: fixed performance mode,
cpufreq residency, thermal status, the affinity check, on a phone that supports them and on phones
that do not; and each result's raw output, command, binary and build fingerprint."""
from __future__ import annotations

import hashlib
import json

import pytest

from adb_double import AdbDeviceDouble
from phone_helpers import FAKE_BENCHMARK, VARIANT, measure_on, older_binary, run_on

pytestmark = pytest.mark.usefixtures("no_leaked_threads", "adb_key")


def test_a_phone_that_supports_it_all(phone, artifact):
    state = measure_on(phone, artifact.path)["device_state"]
    assert state["fixed_performance_mode"] == "on"
    assert phone.fixed_performance_log.read_text() == "true\nfalse\n"  # switched on, restored at close
    # the timing run booked 1 s at the top clock on cpu4 (the double's taskset does the booking)
    assert state["frequency_residency"] == {"core": 4, "top_mhz": 2803.2, "seconds_at_mhz": {"2803.2": 1.0},
                                            "below_top_share": 0.0, "mostly_at_mhz": 2803.2}
    assert state["thermal_status"] == {"before": 0, "after": 0, "after_name": "NONE"}
    assert state["affinity"] == {"asked": "10", "got": "10", "took": True}
    assert state["cooldowns"] == [] and state["throttled"] is None


@pytest.mark.parametrize("kind", ["android10", "no_hal"])
def test_absence_is_stated(artifact, kind):
    options = ({"android": "10", "thermal_service": False, "cpufreq_stats": False} if kind == "android10"
               else {"fixed_performance": False})
    with AdbDeviceDouble(**options) as phone:
        state = measure_on(phone, artifact.path, per_layer=False)["device_state"]
        assert not phone.fixed_performance_log.exists()
    if kind == "android10":  # not even tried below Android 11
        assert state["fixed_performance_mode"] == ("unsupported: Android SDK 29; fixed performance mode "
                                                   "needs Android 11 (SDK 30)")
        assert state["frequency_residency"].startswith("unavailable: cpu4 has no cpufreq residency (cat: ")
        assert state["thermal_status"] == ("unavailable: dumpsys thermalservice: "
                                           "Can't find service: thermalservice")
    else:  # tried, and the power HAL said no
        assert state["fixed_performance_mode"] == (
            "unsupported: cmd power set-fixed-performance-mode-enabled said: Failed to set FIXED_PERFORMANCE mode"
            " | This is likely because Power HAL AIDL is not implemented on this device (exit 255)")
        assert isinstance(state["frequency_residency"], dict)


def test_slow_clock_and_ignored_pinning_are_flagged(cli, artifact, tmp_path):
    with AdbDeviceDouble(pinning_works=False) as phone:
        phone.set_run_freq(934400)
        out = tmp_path / "run.json"
        code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--no-per-layer",
                                 "--json", str(out))
    assert code == 0, stderr
    (result,) = json.loads(out.read_text())["results"]
    assert result["noisy"] and (
        "core 4 ran 100% of the run below its top clock 2803.2 MHz (mostly at 934.4 MHz); fixed performance "
        "mode was on, which may hold it there; pinning did not take: asked CPU mask 10, the process ran on ff"
        in result["noisy_reason"])
    residency = result["device_state"]["frequency_residency"]
    assert (residency["seconds_at_mhz"], residency["below_top_share"]) == ({"934.4": 1.0}, 1.0)
    assert result["device_state"]["affinity"] == {"asked": "10", "got": "ff", "took": False}


def test_thermal_status_gates_the_measurement(phone, artifact):
    """Hot before the first run: it cools down first (here at the first poll), then measures once."""
    phone.set_thermal_status(2)
    count, states = phone._count_shell, []

    def cool_at_the_first_poll(command):
        if "thermalservice" in command:
            states.append(command)
            if len(states) == 2:
                phone.set_thermal_status(0)
        return count(command)

    phone._count_shell = cool_at_the_first_poll
    state = measure_on(phone, artifact.path, per_layer=False, cooldown_secs=60)["device_state"]
    (cooldown,) = state["cooldowns"]
    assert cooldown["reason"] == "thermal status 2 (MODERATE)" and cooldown["cooled"]
    assert state["thermal_status"] == {"before": 0, "after": 0, "after_name": "NONE"}
    commands = [c for c in phone.shell_commands if "thermalservice" in c or "benchmark_model --graph" in c]
    assert ["graph" in c for c in commands] == [False, False, True, False]  # gate, poll, run, after


def test_evidence_is_kept(phone, artifact):
    measured = measure_on(phone, artifact.path)
    evidence = measured["device_state"]["evidence"]
    assert evidence["transport"] == "direct" and evidence["serial"] == phone.address
    assert evidence["build_fingerprint"] == phone.props["ro.build.fingerprint"]
    binary = evidence["binary"]
    assert binary["sha256"] == hashlib.sha256(FAKE_BENCHMARK.read_bytes()).hexdigest()
    assert binary["version"] == "INFO: LiteRT benchmark_model stand-in (mbv3bench tests), version 0.1.0"
    assert binary["op_profiling_output"] == "csv" and binary["device_path"] == "/data/local/tmp/mbv3bench/benchmark_model"
    timing, profile = evidence["runs"]
    assert (timing["purpose"], profile["purpose"]) == ("timing", "op_profile")
    for run in (timing, profile):
        assert run["exit_code"] == 0 and run["command"] in "\n".join(phone.shell_commands)  # exactly as sent
        assert "Inference timings in us" in run["output"] and "__MBV3_AFFINITY" not in run["output"]
    assert "--op_profiling_output_mode=csv" in profile["command"]
    assert "node type, first, avg_ms, %, cdf%, mem KB, times called, name" in profile["output"]
    assert len(measured["ops"]) > 50


def test_an_older_binary_gets_text_tables(phone, artifact, tmp_path):
    measured = measure_on(phone, artifact.path, binary=older_binary(tmp_path))
    binary = measured["device_state"]["evidence"]["binary"]
    assert binary["op_profiling_output"] == "text (the binary lists no --op_profiling_output_mode)"
    assert binary["version"].startswith("none printed")
    profile = measured["device_state"]["evidence"]["runs"][1]
    assert "op_profiling_output_mode" not in profile["command"] and "[node type]" in profile["output"]
    assert len(measured["ops"]) > 50
