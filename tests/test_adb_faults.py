"""Bad situations on the direct route, each one line (`error: ...`; exit 2, or 1 for a failed
measurement in a grid) that keeps what finished. The adb-server route's own are in test_adb_server.py;
a phone lost mid-grid and a crashing binary are in test_adb_target.py."""
from __future__ import annotations

import json
import os

import pytest

from adb_double import AdbDeviceDouble
from conftest import free_port
from phone_helpers import FAKE_BENCHMARK, OTHER, VARIANT, run_on

pytestmark = pytest.mark.usefixtures("no_leaked_threads", "adb_key")


def _one_line(stderr: str) -> str:
    (line,) = stderr.strip().splitlines()
    return line


def test_no_server_and_no_direct_route(cli, tmp_path):
    server = f"no adb server answers on 127.0.0.1:{os.environ['ANDROID_ADB_SERVER_PORT']}"
    nowhere = f"127.0.0.1:{free_port()}"
    code, _, stderr = run_on(cli, nowhere, tmp_path, "--models", VARIANT)
    line = _one_line(stderr)
    assert code == 2 and line.startswith(f"error: cannot reach the phone at {nowhere} directly: ")
    assert line.endswith(f"; {server}")
    code, _, stderr = run_on(cli, nowhere, tmp_path, "--models", VARIANT, "--transport", "server")
    assert code == 2 and _one_line(stderr) == (f"error: {server}; start it with `adb start-server`, "
                                               "or use --transport direct")


def test_unauthorized_phone(cli, tmp_path):
    with AdbDeviceDouble(require_auth=True, accept_new_keys=False) as phone:
        code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT)
    assert code == 2 and _one_line(stderr) == (
        f"error: {phone.address} has not authorized our ADB key {os.environ['MBV3BENCH_ADB_KEY']}: accept it on "
        "the phone's screen (\"Allow USB debugging?\"), then run again")


def test_binary_of_the_wrong_abi(cli, phone, tmp_path):
    x86 = tmp_path / "benchmark_model_x86_64"
    x86.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + (62).to_bytes(2, "little") + bytes(44))
    code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, "--benchmark-binary", str(x86))
    assert code == 2 and _one_line(stderr) == (
        f"error: benchmark_model binary {x86} is built for x86_64; {phone.address} runs arm64-v8a, armeabi-v7a, "
        "armeabi: use the android_aarch64 build (--benchmark-binary PATH)")
    assert not any("sha256sum" in c for c in phone.shell_commands)  # refused before anything was pushed


def test_binary_the_phone_cannot_execute(cli, phone, tmp_path, monkeypatch):
    """A work directory on /sdcard: the push works, but FUSE drops the mode and the mount is noexec."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "sdcard3.yaml").write_text("kind: android\nmodel: Pixel 3\nlarge_cores: [4, 5, 6, 7]\n"
                                           "workdir: /sdcard/mbv3bench\n")
    monkeypatch.setenv("MBV3BENCH_DEVICES_DIR", str(profiles))
    code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", VARIANT, device="sdcard3")
    line = _one_line(stderr)
    assert code == 2 and line.startswith(f"error: {phone.address} cannot execute /sdcard/mbv3bench/benchmark_model (")
    assert "Permission denied" in line and "is /sdcard/mbv3bench on a noexec mount such as /sdcard?" in line
    assert not phone.device_path("/sdcard/mbv3bench").exists()  # what was pushed is removed again


def test_full_storage_fails_the_cell_and_keeps_what_finished(cli, phone, artifact, two_variants, tmp_path):
    # room for the binary and the first model only
    phone.set_free_space(FAKE_BENCHMARK.stat().st_size + artifact.path.stat().st_size + 1000)
    out = tmp_path / "run.json"
    code, _, stderr = run_on(cli, phone.address, tmp_path, "--models", f"{VARIANT},{OTHER}", "--no-per-layer",
                             "--json", str(out))
    assert code == 1
    size = two_variants.stat().st_size / 1e6
    assert size >= 0.1 and _one_line(stderr) == (
        f"error: 1 measurement(s) failed: {phone.address} is out of storage: the push of other.tflite ({size:.1f} MB) "
        "to /data/local/tmp/mbv3bench/other.tflite failed (write failed: No space left on device); free space on "
        "the phone, then run again with --resume")
    results = json.loads(out.read_text())["results"]
    assert [r.get("status", "ok") for r in results] == ["ok", "error"]
    assert not phone.device_path("/data/local/tmp/mbv3bench").exists()  # the partial file is removed too
