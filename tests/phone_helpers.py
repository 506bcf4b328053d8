"""What the phone tests share: the fake benchmark_model, a fast protocol, and short ways to run the
CLI or open a target against an ADB device double."""
from __future__ import annotations

from pathlib import Path

FAKE_BENCHMARK = Path(__file__).with_name("fake_benchmark_model.py")
FAKE_RUNNER = Path(__file__).with_name("fake_executor_runner.py")
VARIANT = "mobilenet_v3_small:res=96,width=0.35"
OTHER = "mobilenet_v3_small:res=64,width=0.35"
# the runtimes left to the phone's default, as a user's first `run --device pixel3` leaves them
FAST = ["--runs", "5", "--min-secs", "0", "--warmup-runs", "1", "--warmup-secs", "0", "--profile-runs", "2",
        "--processes", "2", "--target-ci", "0", "--benchmark-binary", str(FAKE_BENCHMARK)]


def run_on(cli, serial: str, tmp_path, *args, device: str = "pixel3"):
    """`mbv3bench run` on the phone `serial` with the fast protocol: (exit code, stdout, stderr)."""
    return cli("run", "--device", device, "--serial", serial, "--db", str(tmp_path / "r.sqlite"),
               "--out-dir", str(tmp_path / "reports"), *FAST, *args)


def job(path, *, variant: str = VARIANT, per_layer: bool = True, runtime: str = "litert"):
    from mbv3bench.core.registry import FORMATS
    from mbv3bench.core.results import Job

    fmt = next(name for name, f in FORMATS.items() if f.runtime == runtime)
    return Job(variant=variant, runtime=runtime, format=fmt, artifact=str(path), input_shape=(1, 3, 96, 96),
               threads=1, options={"xnnpack": True},
               protocol={"runs": 3, "min_secs": 0, "warmup_runs": 1, "warmup_secs": 0, "max_secs": 30,
                         "profile_runs": 2}, per_layer=per_layer)


def open_on(phone, *, binary: Path = FAKE_BENCHMARK, runner: Path = FAKE_RUNNER, **options):
    """An AdbTarget (profile pixel3) on the double `phone`; the caller closes it."""
    from mbv3bench.targets import TargetOptions, open_target
    from mbv3bench.targets.base import PhoneOptions

    return open_target(TargetOptions("pixel3", phone=PhoneOptions(serial=phone.address, benchmark_binary=str(binary),
                                                                  executorch_runner=str(runner), **options)))


def measure_on(phone, artifact_path, *, per_layer: bool = True, **options) -> dict:
    """One measurement through a target opened and closed around it, as the JSON a worker sends."""
    target = open_on(phone, **options)
    try:
        return target.measure(job(artifact_path, per_layer=per_layer)).to_json()
    finally:
        target.close()


def build_of(fake: Path, path: Path, **constants) -> Path:
    """A copy of a stand-in at `path` as another build: each NAME = value line of its constants
    rewritten (a different binary, with its own sha256)."""
    import re

    text = fake.read_text()
    for name, value in constants.items():
        text, n = re.subn(rf"(?m)^{name} = .*?(?=\s*(?:#|$))", f"{name} = {value!r}", text, count=1)
        assert n == 1, name
    path.write_text(text)
    path.chmod(0o755)
    return path


def older_binary(tmp_path) -> Path:
    """The stand-in as an older build: no --op_profiling_output_mode, no version line."""
    return build_of(FAKE_BENCHMARK, tmp_path / "benchmark_model_old", SUPPORTS_OUTPUT_MODE=False, VERSION_LINE="")


def fixed_speed_binary(folder: Path, invoke_ms: float) -> Path:
    """The fake benchmark_model with every invoke taking `invoke_ms`: a phone of known speed."""
    import re

    text, n = re.subn(r"(?m)^FIXED_INVOKE_US = None$", f"FIXED_INVOKE_US = {int(invoke_ms * 1000)}",
                      FAKE_BENCHMARK.read_text())
    assert n == 1
    path = folder / "benchmark_model_fixed"
    path.write_text(text)
    path.chmod(0o755)
    return path
