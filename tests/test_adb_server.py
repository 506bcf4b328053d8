"""Phones through Debian's real adb server (Google's adb) connected to the ADB device double with
`adb connect`: each test starts its own server on a free port (never the user's 5037), with its key
and files in tmp_path, and kills it at the end. Skipped without `adb` (apt-get install adb)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from adb_double import AdbDeviceDouble
from conftest import free_port
from phone_helpers import OTHER, VARIANT, run_on

pytestmark = [pytest.mark.usefixtures("no_leaked_threads", "adb_key"),
              pytest.mark.skipif(shutil.which("adb") is None,
                                 reason="needs Google's adb client and server (apt-get install adb)")]


@pytest.fixture
def adb(tmp_path, monkeypatch):
    """A private adb server; `adb(*args)` runs the adb client against it. mbv3bench finds it through
    ANDROID_ADB_SERVER_PORT, as the adb client would."""
    port = str(free_port())
    home = tmp_path / "adb-home"
    (home / ".android").mkdir(parents=True)
    env = dict(os.environ, HOME=str(home), ANDROID_SDK_HOME=str(home), ANDROID_USER_HOME=str(home / ".android"),
               ANDROID_ADB_SERVER_PORT=port)

    def run(*args: str) -> str:
        done = subprocess.run(["adb", "-P", port, *args], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    run("start-server")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", port)
    try:
        yield run
    finally:
        subprocess.run(["adb", "-P", port, "kill-server"], capture_output=True, timeout=60, env=env)


def _one_line(stderr: str) -> str:
    (line,) = stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("supports", [True, False])
def test_a_phone_only_the_server_reaches(cli, adb, artifact, tmp_path, supports):
    """`run --device pixel3 --serial SERIAL` with the default transport, on a phone held by the server
    (max_hosts=1, like USB): measured through the server, with its clock facts or their absence."""
    unsupported = {"android": "10", "thermal_service": False, "cpufreq_stats": False}
    with AdbDeviceDouble(max_hosts=1, **({} if supports else unsupported)) as phone:
        assert "connected to" in adb("connect", phone.address)
        out = tmp_path / "run.json"
        code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--json", str(out),
                                 *([] if supports else ["--no-per-layer"]))
        assert code == 0, stderr
        code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--transport", "direct")
        assert code == 2 and _one_line(stderr).startswith(f"error: cannot reach the phone at {phone.address} directly: ")
        switched = phone.fixed_performance_log.read_text() if phone.fixed_performance_log.exists() else ""
    doc = json.loads(out.read_text())
    (result,) = doc["results"]
    state = result["device_state"]
    assert doc["device"]["transport"] == state["evidence"]["transport"] == "server"
    assert state["evidence"]["route"] == f"adb server 1.0.41 on 127.0.0.1:{os.environ['ANDROID_ADB_SERVER_PORT']}"
    if supports:
        assert state["fixed_performance_mode"] == "on" and switched == "true\nfalse\n"
        assert state["frequency_residency"]["seconds_at_mhz"] == {"2803.2": 1.0}
        assert state["thermal_status"]["after_name"] == "NONE" and state["affinity"]["took"]
        assert {row["name"] for row in result["per_layer"]} >= {"stem", "bneck1", "classifier"}
    else:
        assert state["fixed_performance_mode"].startswith("unsupported: Android SDK 29") and switched == ""
        assert state["frequency_residency"].startswith("unavailable: ")
        assert state["thermal_status"].startswith("unavailable: ")


def test_devices_lists_phones_of_both_routes(cli, adb):
    with AdbDeviceDouble(serial="VIA_SERVER") as held, AdbDeviceDouble(model="Pixel 4", serial="DIRECT") as tcp:
        adb("connect", held.address)
        code, stdout, _ = cli("devices", "--json", "--serial", tcp.address)
        assert code == 0
        doc = json.loads(stdout)
        routes = {p["serial"]: (p["transport"], p["model"]) for p in doc["phones"]}
        assert routes == {held.address: ("server", "Pixel 3"), tcp.address: ("direct", "Pixel 4")}
        code, stdout, _ = cli("devices", "--transport", "server", "--serial", tcp.address)
        assert code == 0 and f"{held.address} (server: adb server 1.0.41 on 127.0.0.1:" in stdout
        assert tcp.address not in stdout


def test_unauthorized_on_the_server(cli, adb, tmp_path):
    with AdbDeviceDouble(require_auth=True, accept_new_keys=None) as phone:  # the dialog stays open
        adb("connect", phone.address)
        assert f"{phone.address}\tunauthorized" in adb("devices")
        code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT)
    assert code == 2 and _one_line(stderr) == (
        f"error: {phone.address} has not authorized this computer: accept the key on the phone's screen "
        "(\"Allow USB debugging?\"), then run again")


def test_lost_mid_grid_on_the_server(cli, adb, artifact, two_variants, tmp_path):
    from mbv3bench.store import Store

    with AdbDeviceDouble(max_hosts=1) as phone:
        adb("connect", phone.address)
        count = phone._count_shell

        runs_of_other = []

        def drop_in_second_round(command):  # the link dies as the second cell's second run starts
            if "benchmark_model --graph" in command and two_variants.name in command:
                runs_of_other.append(command)
                if len(runs_of_other) == 2:
                    phone.disconnect_after(0)
            return count(command)

        phone._count_shell = drop_in_second_round
        code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", f"{VARIANT},{OTHER}", "--no-per-layer")
    line = _one_line(stderr)
    assert code == 1 and line.startswith(f"error: device {phone.address} disconnected during ")
    assert "finished measurements are kept; reconnect and run again with --resume" in line
    with Store(tmp_path / "r.sqlite") as store:   # the finished first round of both cells is kept
        kept = store.measurements()
    assert sorted(m.variant for m in kept) == sorted([VARIANT, OTHER])
    assert all(m.rounds["stopped_by"] == "device lost" for m in kept)


def test_full_storage_on_the_server(cli, adb, tmp_path):
    """The server route reads the phone's own reason for a refused push (adbutils keeps only "FAIL")."""
    with AdbDeviceDouble() as phone:
        adb("connect", phone.address)
        phone.set_free_space(1000)
        code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT)
    line = _one_line(stderr)
    assert code == 2 and line.startswith(f"error: {phone.address} is out of storage: the push of ")
    assert "failed (write failed: No space left on device); free space on the phone" in line
