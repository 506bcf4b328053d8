"""`mbv3bench devices add NAME --serial S`: a profile written from the phone itself (the ADB device
double), into the user's folder, never over an existing one without --force."""
from __future__ import annotations

import pytest
import yaml

from adb_double import AdbDeviceDouble
from phone_helpers import FAKE_BENCHMARK

pytestmark = pytest.mark.usefixtures("no_leaked_threads", "adb_key")


def test_add_writes_a_profile_that_runs(cli, tmp_path, monkeypatch):
    from mbv3bench.targets import TargetOptions, open_target
    from mbv3bench.targets.base import PhoneOptions

    mine = tmp_path / "my-devices"
    with AdbDeviceDouble(model="Pixel 5", soc="sm7250", max_freqs_khz=(1804800,) * 6 + (2400000, 2400000)) as phone:
        code, stdout, stderr = cli("devices", "add", "pixel5", "--serial", phone.address, "--devices-dir", str(mine))
        assert code == 0, stderr
        wrote, hint = stdout.splitlines()
        assert wrote.startswith(f"wrote {mine / 'pixel5.yaml'}: Pixel 5, SM7250, arm64-v8a, Android 12; large cores "
                                "6, 7 (mask c0), via adb-shell over TCP")
        assert hint == f"measure with: MBV3BENCH_DEVICES_DIR={mine} mbv3bench run --device pixel5 --runtimes litert"
        profile = yaml.safe_load((mine / "pixel5.yaml").read_text())
        assert {k: profile[k] for k in ("kind", "model", "soc", "soc_platform", "abi", "android", "sdk", "large_cores",
                                        "large_cores_mask", "serial", "workdir")} == {
            "kind": "android", "model": "Pixel 5", "soc": "QTI SM7250", "soc_platform": "sm7250", "abi": "arm64-v8a",
            "android": "12", "sdk": 31, "large_cores": [6, 7], "large_cores_mask": "c0", "serial": phone.address,
            "workdir": "/data/local/tmp/mbv3bench"}
        assert profile["benchmark_binary"] == "~/.cache/mbv3bench/benchmark_model_aarch64"

        code, _, stderr = cli("devices", "add", "pixel5", "--serial", phone.address, "--devices-dir", str(mine))
        assert code == 2 and stderr.strip() == f"error: {mine / 'pixel5.yaml'} exists: pass --force to overwrite it"
        code, _, _ = cli("devices", "add", "pixel5", "--serial", phone.address, "--devices-dir", str(mine), "--force")
        assert code == 0

        # the user's folder is searched first; the profile's serial stands in for --serial
        monkeypatch.setenv("MBV3BENCH_DEVICES_DIR", str(mine))
        target = open_target(TargetOptions("pixel5", phone=PhoneOptions(benchmark_binary=str(FAKE_BENCHMARK))))
        try:
            assert (target.where, target.core, target.warnings) == (phone.address, 6, [])
        finally:
            target.close()


@pytest.mark.parametrize("name", ["../escape", "a/b", "_hidden", "x" * 101])
def test_add_takes_only_a_plain_name(cli, tmp_path, name):
    code, _, stderr = cli("devices", "add", name, "--serial", "127.0.0.1:1", "--devices-dir", str(tmp_path))
    assert code == 2 and "must be a plain file stem" in stderr and len(stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_add_never_writes_into_the_shipped_profiles(cli):
    from mbv3bench.core.resources import BUILTIN_DEVICES

    code, _, stderr = cli("devices", "add", "mine", "--serial", "127.0.0.1:1", "--devices-dir", str(BUILTIN_DEVICES))
    assert code == 2 and stderr.strip() == (f"error: {BUILTIN_DEVICES} holds the profiles shipped with mbv3bench; "
                                            "pass --devices-dir DIR for yours")
