"""The options every measuring command shares (the protocol, runtime settings, phones) and what
they make: the Protocol, the Settings, the target. One definition for `run`, `profile` and the
`lut` commands, whose defaults may differ (a lookup table measures ~100 blocks)."""
from __future__ import annotations

import click

from .core.errors import UserError
from .core.registry import PROTOCOL, ProtocolDefaults


def protocol_options(f, defaults: ProtocolDefaults = PROTOCOL):
    P = defaults
    for opt in reversed([
        click.option("--runs", default=P.runs, show_default=True, help="Minimum number of timed runs."),
        click.option("--min-secs", default=P.min_secs, show_default=True, help="Minimum seconds of timed runs."),
        click.option("--warmup-runs", default=P.warmup_runs, show_default=True, help="Minimum warm-up runs."),
        click.option("--warmup-secs", default=P.warmup_secs, show_default=True, help="Minimum warm-up seconds."),
        click.option("--max-secs", default=P.max_secs, show_default=True, help="Stop timing after this long."),
        click.option("--profile-runs", default=P.profile_runs, show_default=True,
                     help="Profiled runs for per-layer times."),
        click.option("--processes", default=P.processes, show_default=True,
                     help="Local: fresh processes each running the protocol (samples pooled)."),
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
        click.option("--serial", help="Android: the phone's HOST:PORT (adb tcpip) or USB serial "
                                      "(default: the USB phone)."),
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

    target = open_profile(load_device(device), core=kw["core"], serial=kw["serial"],
                          benchmark_binary=kw["benchmark_binary"], cooldown_secs=kw["cooldown_secs"])
    # a phone's work directory is removed however the command ends
    click.get_current_context().call_on_close(target.close)
    return target


def protocol(kw: dict):
    from .measure.protocol import Protocol

    if kw["threads"] < 1:
        raise UserError("--threads must be >= 1")
    return Protocol(kw["runs"], kw["min_secs"], kw["warmup_runs"], kw["warmup_secs"], kw["max_secs"],
                    kw["profile_runs"], kw["processes"]).validate()
