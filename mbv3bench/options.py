"""The options every measuring command shares (the protocol, runtime settings, phones) and what
they make: the Protocol, the target. One definition for `run`, `profile` and the `lut` commands,
whose defaults may differ (a lookup table measures ~100 blocks)."""
from __future__ import annotations

import click

from .targets.android.transport import MODES as TRANSPORTS
from .core.errors import UserError
from .core.registry import PROTOCOL, STATISTICS, ProtocolDefaults

MAX_THREADS = 256


MEASURED_STATISTIC = ("What each cell is headlined by, of its block medians (also the interval --target-ci "
                      "measures down, and the paired ratios); recorded with each result.")


def statistic_option(default: str | None, help: str = MEASURED_STATISTIC):
    """--statistic: the one option for it, measuring or reading (default None: as recorded)."""
    return click.option("--statistic", type=click.Choice(tuple(STATISTICS)), default=default,
                        show_default=default is not None, help=help)


def protocol_options(f, defaults: ProtocolDefaults = PROTOCOL):
    P = defaults
    for opt in reversed([
        click.option("--runs", default=P.runs, show_default=True,
                     help="Per process (phone: per round), timed runs of each cell at least."),
        click.option("--min-secs", default=P.min_secs, show_default=True,
                     help="Per process (phone: per run), seconds of timed rounds at least."),
        click.option("--warmup-runs", default=P.warmup_runs, show_default=True, help="Minimum warm-up runs."),
        click.option("--warmup-secs", default=P.warmup_secs, show_default=True, help="Minimum warm-up seconds."),
        click.option("--max-secs", default=P.max_secs, show_default=True,
                     help="The longest one group of cells is measured (wall clock, all its processes)."),
        click.option("--profile-runs", default=P.profile_runs, show_default=True,
                     help="Profiled runs for per-layer times."),
        click.option("--processes", default=P.processes, show_default=True,
                     help="Fresh processes (phone: rounds) at least; more until --target-ci is met."),
        click.option("--block-runs", default=P.block_runs, show_default=True,
                     help="Invokes per block: a round times one block of every cell."),
        click.option("--target-ci", default=P.target_ci, show_default=True,
                     help="Measure until every 95% interval (cells and their ratios) is within this many "
                          "percent of its estimate, or --max-secs is up; 0: just --processes."),
        statistic_option(P.statistic),
        click.option("--threads", default=P.threads, show_default=True, help="Runtime threads (the paper: 1)."),
        click.option("--core", type=int, help="Core to pin (default: the device profile's; local: the last)."),
        click.option("--no-xnnpack", is_flag=True, help="LiteRT: TFLite's builtin kernels instead of XNNPACK."),
        click.option("--ort-opt-level", default="all", show_default=True,
                     help="ONNX Runtime graph optimisation: disable | basic | extended | all."),
    ]):
        f = opt(f)
    return f


def phone_options(f):
    for opt in reversed([
        click.option("--serial", help="Android: the phone as `adb devices` lists it, or HOST:PORT (adb tcpip) "
                                      "(default: the only phone)."),
        click.option("--transport", type=click.Choice(TRANSPORTS), default="auto", show_default=True,
                     help="Android: server (a running adb server, port $ANDROID_ADB_SERVER_PORT or 5037), "
                          "direct (adb-shell over TCP or USB), auto (the server when it knows the phone)."),
        click.option("--benchmark-binary", type=click.Path(dir_okay=False),
                     help="Android: TFLite's benchmark_model for the phone (default: the device profile's)."),
        click.option("--cooldown-secs", type=float, help="Android: longest wait for a hot phone to cool down "
                                                         "(default: the device profile's)."),
    ]):
        f = opt(f)
    return f


def open_target(device: str, kw: dict):
    from .targets import open_target as open_profile
    from .targets.profiles import load_device

    target = open_profile(load_device(device), core=kw["core"], serial=kw["serial"], transport=kw["transport"],
                         benchmark_binary=kw["benchmark_binary"], cooldown_secs=kw["cooldown_secs"])
    # a phone's work directory is removed however the command ends
    click.get_current_context().call_on_close(target.close)
    return target


def target_inputs(device: str | None, kw: dict) -> dict:
    """The files measuring on DEVICE reads (its profile, a phone's benchmark_model), as inputs no
    output of the command may overwrite."""
    from .core.resources import device_dirs, find_yaml

    return {"the device profile": device and find_yaml(device_dirs(), device),
            "--benchmark-binary": kw.get("benchmark_binary")}


def protocol(kw: dict):
    from .measure.protocol import MAX_SECS, Protocol

    if not 1 <= kw["threads"] <= MAX_THREADS:
        raise UserError(f"--threads must be in 1..{MAX_THREADS}")
    cooldown = kw.get("cooldown_secs")
    if cooldown is not None and not 0 <= cooldown <= MAX_SECS:   # false for nan, which would wait forever
        raise UserError(f"--cooldown-secs must be in 0..{MAX_SECS:g}")
    return Protocol(kw["runs"], kw["min_secs"], kw["warmup_runs"], kw["warmup_secs"], kw["max_secs"],
                    kw["profile_runs"], kw["processes"], kw["block_runs"], kw["target_ci"], kw["statistic"]).validate()
