"""Tests of the ADB device double (tests/adb_double.py) and the fake benchmark_model."""
from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from adb_shell import exceptions as adb_exc
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.keygen import keygen
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from adb_double import AdbDeviceDouble
from conftest import free_port

FAKE_BENCHMARK = Path(__file__).with_name("fake_benchmark_model.py")

pytestmark = pytest.mark.usefixtures("no_leaked_threads")


@pytest.fixture
def adb(phone):
    """An adb-shell client connected to `phone`."""
    client = AdbDeviceTcp(phone.host, phone.port, default_transport_timeout_s=10)
    client.connect()
    yield client
    client.close()


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory) -> Path:
    """A one-conv .tflite, converted once per session (the conversion takes ~10-20 s)."""
    import litert_torch
    import torch

    path = tmp_path_factory.mktemp("model") / "tiny.tflite"
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()).eval()
    litert_torch.convert(model, (torch.randn(1, 3, 16, 16),)).export(str(path))
    return path


def test_shell_answers_props_and_sysfs(phone, adb):
    assert adb.shell("getprop ro.product.model") == "Pixel 3\n"
    assert adb.shell("getprop ro.soc.model") == "SDM845\n"
    assert adb.shell("getprop no.such.prop fallback") == "fallback\n"
    assert adb.shell("cat /sys/devices/system/cpu/cpu7/cpufreq/cpuinfo_max_freq") == "2803200\n"
    assert adb.shell("cat /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") == "1766400\n"
    assert adb.shell("cat /sys/devices/system/cpu/possible") == "0-7\n"

    phone.set_cur_freq(4, 825600)
    phone.set_temps((41000, 42000, 43000))
    assert adb.shell("cat /sys/devices/system/cpu/cpu4/cpufreq/scaling_cur_freq") == "825600\n"
    assert adb.shell("cat /sys/class/thermal/thermal_zone2/temp") == "43000\n"
    assert "level: 80" in adb.shell("dumpsys battery")
    # Commands are recorded as the client sent them, before the sandbox rewrite.
    assert phone.shell_commands[0] == "getprop ro.product.model"
    assert "/sys/devices/system/cpu/cpu4/cpufreq/scaling_cur_freq" in phone.shell_commands[-3]


def test_push_pull_stat_and_refusals(phone, adb, tmp_path):
    payload = bytes(range(256)) * 1000  # several sync DATA chunks
    adb.push(io.BytesIO(payload), "/data/local/tmp/dir/blob", st_mode=0o100755, mtime=1_600_000_000)
    assert phone.device_path("/data/local/tmp/dir/blob").read_bytes() == payload

    pulled = tmp_path / "blob"
    adb.pull("/data/local/tmp/dir/blob", str(pulled))
    assert pulled.read_bytes() == payload
    mode, size, mtime = adb.stat("/data/local/tmp/dir/blob")
    assert (mode & 0o777, size, mtime) == (0o755, len(payload), 1_600_000_000)
    assert adb.stat("/data/local/tmp/missing") == (0, 0, 0)
    assert [e.filename for e in adb.list("/data/local/tmp/dir")] == [b"blob"]

    with pytest.raises(adb_exc.PushFailedError, match="Read-only file system"):
        adb.push(io.BytesIO(b"x"), "/system/bin/evil")
    assert not phone.device_path("/system/bin/evil").exists()
    with pytest.raises(adb_exc.AdbCommandFailureException, match="No such file"):
        adb.pull("/data/local/tmp/missing", str(tmp_path / "missing"))

    phone.fail_pushes()
    with pytest.raises(adb_exc.PushFailedError):
        adb.push(io.BytesIO(b"x"), "/data/local/tmp/x")
    phone.fail_pushes(False)
    adb.push(io.BytesIO(b"x"), "/data/local/tmp/x")


def test_shell_is_a_real_shell(phone, adb):
    # Quoted, ";reboot" is just text...
    assert adb.shell("echo " + shlex.quote("a;reboot")) == "a;reboot\n"
    assert not phone.reboot_log.exists()
    # ...unquoted, the shell runs the reboot stub (which only leaves evidence).
    assert adb.shell("echo a;reboot") == "a\n"
    assert phone.reboot_log.read_text() == "reboot \n"


def test_taskset_records_mask_and_runs_command(phone, adb):
    assert adb.shell("taskset f0 echo pinned") == "pinned\n"
    assert phone.taskset_log.read_text() == "f0 echo pinned\n"


def test_auth_with_known_key(tmp_path):
    keygen(str(tmp_path / "adbkey"))
    public = (tmp_path / "adbkey.pub").read_text()
    signer = PythonRSASigner(public, (tmp_path / "adbkey").read_text())
    with AdbDeviceDouble(require_auth=True, public_key=public, accept_new_keys=False) as phone:
        client = AdbDeviceTcp(phone.host, phone.port, default_transport_timeout_s=10)
        assert client.connect(rsa_keys=[signer])
        assert client.shell("echo ok") == "ok\n"
        client.close()
        assert any(line.startswith("AUTH 0x2 ") for line in phone.received)  # a SIGNATURE...
        assert not any(line.startswith("AUTH 0x3 ") for line in phone.received)  # ...no RSAPUBLICKEY


def test_auth_unknown_key(tmp_path):
    keygen(str(tmp_path / "other"))
    signer = PythonRSASigner((tmp_path / "other.pub").read_text(), (tmp_path / "other").read_text())
    # By default the double "taps Allow" on an unknown RSAPUBLICKEY...
    with AdbDeviceDouble(require_auth=True) as phone:
        client = AdbDeviceTcp(phone.host, phone.port, default_transport_timeout_s=10)
        assert client.connect(rsa_keys=[signer])
        client.close()
        assert any(line.startswith("AUTH 0x3 ") for line in phone.received)
    # ...and with accept_new_keys=False it drops the connection.
    with AdbDeviceDouble(require_auth=True, accept_new_keys=False) as phone:
        client = AdbDeviceTcp(phone.host, phone.port, default_transport_timeout_s=10)
        with pytest.raises(ConnectionError):
            client.connect(rsa_keys=[signer])
        client.close()


def test_disconnect_after(phone, adb):
    phone.disconnect_after(1)
    assert adb.shell("echo last") == "last\n"
    with pytest.raises(ConnectionError):
        adb.shell("echo too late")
    with pytest.raises(ConnectionRefusedError):
        AdbDeviceTcp(phone.host, phone.port, default_transport_timeout_s=10).connect()
    assert phone.shell_commands == ["echo last"]


def test_stop_kills_a_running_command(phone, adb):
    """Leaving the `with` block mid-command must not hang on the child process."""
    stream = adb.streaming_shell("echo started; sleep 60")
    assert next(stream) == "started\n"
    phone.stop()
    with pytest.raises(ConnectionError):  # reset, not a timeout
        next(stream)


def _run_fake_benchmark(phone, adb, model: Path, *flags: str) -> str:
    adb.push(str(FAKE_BENCHMARK), "/data/local/tmp/benchmark_model", st_mode=0o100755)
    adb.push(str(model), "/data/local/tmp/tiny.tflite")
    command = ("taskset f0 /data/local/tmp/benchmark_model --graph=/data/local/tmp/tiny.tflite --num_threads=1 "
               "--num_runs=5 --warmup_runs=1 --min_secs=0 --warmup_min_secs=0 " + " ".join(flags) + "; echo rc=$?")
    return adb.shell(command, read_timeout_s=60)


def test_fake_benchmark_model_through_the_double(phone, adb, tiny_tflite):
    out = _run_fake_benchmark(phone, adb, tiny_tflite, "--use_xnnpack=true", "--bogus_flag=1")
    assert "WARNING: Unconsumed cmdline flags: --bogus_flag=1" in out
    assert "INFO: Graph: [/data/local/tmp/tiny.tflite]" in out  # echoed as the device path
    assert "INFO: count=5 " in out
    assert "Inference (avg): " in out and "Inference timings in us: Init: " in out
    assert "Run Order" not in out
    assert out.endswith("rc=0\n")
    assert phone.taskset_log.read_text().startswith("f0 ")


def test_fake_benchmark_model_op_profiling(phone, adb, tiny_tflite):
    out = _run_fake_benchmark(phone, adb, tiny_tflite, "--use_xnnpack=false", "--enable_op_profiling=true")
    assert "Operator-wise Profiling Info for Regular Benchmark Runs:" in out
    assert "============================== Run Order ==============================" in out
    assert ("\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]"
            in out)
    assert "CONV_2D" in out and "Summary by node type" in out
    assert out.endswith("rc=0\n")


def test_fake_benchmark_model_missing_graph(phone, adb):
    adb.push(str(FAKE_BENCHMARK), "/data/local/tmp/benchmark_model", st_mode=0o100755)
    out = adb.shell("/data/local/tmp/benchmark_model --graph=/data/local/tmp/nope.tflite; echo rc=$?")
    assert "ERROR: Could not open '" in out and out.endswith("rc=1\n")


@pytest.mark.skipif(shutil.which("adb") is None, reason="needs Google's adb client (apt-get install adb)")
def test_real_adb_client(phone, tmp_path):
    server_port = str(free_port())  # a private adb server, never the user's on 5037
    # ...with its key and logs in tmp_path instead of ~/.android.
    home = tmp_path / "home"
    (home / ".android").mkdir(parents=True)
    env = dict(os.environ, HOME=str(home), ANDROID_SDK_HOME=str(home), ANDROID_USER_HOME=str(home / ".android"))

    def adb(*args: str) -> str:
        done = subprocess.run(["adb", "-P", server_port, *args], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    try:
        assert "connected to" in adb("connect", phone.address)
        assert adb("-s", phone.address, "shell", "getprop", "ro.product.model") == "Pixel 3\n"
        local = tmp_path / "hello.txt"
        local.write_text("hello from adb\n")
        adb("-s", phone.address, "push", str(local), "/data/local/tmp/hello.txt")
        assert adb("-s", phone.address, "shell", "cat /data/local/tmp/hello.txt") == "hello from adb\n"
    finally:
        subprocess.run(["adb", "-P", server_port, "kill-server"], capture_output=True, timeout=60, env=env)
    assert phone.received[0].startswith("CNXN 0x1000001 ")  # the host's banner, then the services:
    assert any("sync:" in line for line in phone.received)
