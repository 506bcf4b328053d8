"""The options every measuring command shares (the protocol, runtime settings, the device and how to
reach a phone) and the one object they make, runner.MeasureOptions. One definition for `run`,
`profile`, `compare --ab`, `table`/`plot`/`report --measure` and the `lut` commands, whose protocol
defaults may differ (a lookup table measures ~100 blocks)."""
from __future__ import annotations

import sys

import click

from .targets.android.transport import MODES as TRANSPORTS
from .core.errors import UserError
from .core.registry import PROTOCOL, STATISTICS, ProtocolDefaults

MAX_THREADS = 256
DB_HELP = "The results store: an SQLite file, or a PostgreSQL URL postgresql://USER@HOST[:PORT]/DATABASE."


def db_address(ctx, param, value):
    from .store import DB_ALLOWED, store_address

    address = store_address(value)
    if address.file is not None and address.file.is_dir():
        raise UserError(f"--db {address} is a folder; allowed: {DB_ALLOWED}")
    return address


def db_option(help: str = DB_HELP):
    """--db: the one option for the results store, made a store.StoreAddress (a bad URL is one line)."""
    from .store.address import DEFAULT_DB

    return click.option("--db", default=str(DEFAULT_DB), show_default=True, metavar="PATH|URL", callback=db_address,
                        help=help)


MEASURED_STATISTIC = ("What each cell is headlined by, of its block medians (also the interval --target-ci "
                      "measures down, and the paired ratios); recorded with each result.")


def statistic_option(default: str | None, help: str = MEASURED_STATISTIC):
    """--statistic: the one option for it, measuring or reading (default None: as recorded)."""
    return click.option("--statistic", type=click.Choice(tuple(STATISTICS)), default=default,
                        show_default=default is not None, help=help)


def measuring_options(f=None, *, defaults: ProtocolDefaults = PROTOCOL, statistic: bool = True):
    """The protocol, runtime and phone options; `statistic=False` where the command has its own
    --statistic (one that reads, too)."""
    if f is None:
        return lambda g: measuring_options(g, defaults=defaults, statistic=statistic)
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
        *([statistic_option(P.statistic)] if statistic else []),
        click.option("--threads", default=P.threads, show_default=True, help="Runtime threads (the paper: 1)."),
        click.option("--core", type=int, help="Core to pin (default: the device profile's; local: the last)."),
        click.option("--no-xnnpack", is_flag=True, help="LiteRT: TFLite's builtin kernels instead of XNNPACK."),
        click.option("--ort-opt-level", default="all", show_default=True,
                     help="ONNX Runtime graph optimisation: disable | basic | extended | all."),
        *PHONE_OPTIONS,
        FARM_OPTION,
    ]):
        f = opt(f)
    return f


PHONE_LINK_OPTIONS = [
    click.option("--transport", type=click.Choice(TRANSPORTS), default="auto", show_default=True,
                 help="Android: server (a running adb server, port $ANDROID_ADB_SERVER_PORT or 5037), "
                      "direct (adb-shell over TCP or USB), auto (the server when it knows the phone)."),
    click.option("--benchmark-binary", type=click.Path(dir_okay=False),
                 help="Android: TFLite's benchmark_model for the phone (default: the device profile's)."),
    click.option("--executorch-runner", type=click.Path(dir_okay=False),
                 help="Android: ExecuTorch's executor_runner built for the phone (README: Phones, ExecuTorch; "
                      "default: the device profile's)."),
    click.option("--cooldown-secs", type=float, help="Android: longest wait for a hot phone to cool down "
                                                     "(default: the device profile's)."),
]
PHONE_OPTIONS = [
    click.option("--serial", help="Android: the phone as `adb devices` lists it, or HOST:PORT (adb tcpip) "
                                  "(default: the only phone)."),
    *PHONE_LINK_OPTIONS,
]
FARM_OPTION = click.option("--farm", metavar="ADDRESS",
                           help="Measure on every --device device of the Ray farm at ADDRESS (its head's HOST:PORT; "
                                "see `mbv3bench farm`): groups go to whichever device is free.")
_PHONE_DEFAULTS = {"serial": None, "transport": "auto", "benchmark_binary": None, "executorch_runner": None,
                   "cooldown_secs": None}


def target_options(kw: dict, device: str, core: int | None = None, runtimes: list[str] | tuple[str, ...] = ()):
    """Which device, on which core (`core`: a default under --core), reached how, to measure which
    runtimes."""
    from .measure.protocol import MAX_SECS
    from .targets.base import PhoneOptions, TargetOptions
    from .targets.profiles import load_device

    cooldown = kw.get("cooldown_secs")
    if cooldown is not None and not 0 <= cooldown <= MAX_SECS:   # false for nan, which would wait forever
        raise UserError(f"--cooldown-secs must be in 0..{MAX_SECS:g}")
    phone = {k: kw[k] for k in _PHONE_DEFAULTS}
    farm = kw.get("farm")
    if farm is not None:
        given = [k for k, v in {**phone, "core": kw["core"]}.items() if v != _PHONE_DEFAULTS.get(k)]
        if given:
            raise UserError(f"--{given[0].replace('_', '-')} is for one device; with --farm each device is reached "
                            "and pinned as its `farm join` said")
        load_device(device)
        return TargetOptions(device, farm=farm)
    if load_device(device)["kind"] != "android":
        given = [k for k, v in phone.items() if v != _PHONE_DEFAULTS[k]]
        if given:
            raise UserError(f"--{given[0].replace('_', '-')} is a phone's option; device {device} is not a phone")
    return TargetOptions(device, kw["core"] if kw["core"] is not None else core,
                         PhoneOptions(**phone, runtimes=tuple(runtimes)))


def measure_options(kw: dict, device: str, *, statistic: str | None = None, metric: str = "time",
                    runtimes: list[str] | tuple[str, ...] = (), **settings):
    """The command line's measuring options as one checked object (runner.MeasureOptions);
    `statistic` where the command's own --statistic gives it, `settings` what a command sets itself
    (per_layer, group_depth, per_op)."""
    from .measure.protocol import Protocol
    from .runner import MeasureOptions, Settings

    if not 1 <= kw["threads"] <= MAX_THREADS:
        raise UserError(f"--threads must be in 1..{MAX_THREADS}")
    protocol = Protocol(kw["runs"], kw["min_secs"], kw["warmup_runs"], kw["warmup_secs"], kw["max_secs"],
                        kw["profile_runs"], kw["processes"], kw["block_runs"], kw["target_ci"],
                        statistic or kw["statistic"]).validate()
    return MeasureOptions(
        target=target_options(kw, device, runtimes=runtimes), protocol=protocol, metric=metric,
        settings=Settings(threads=kw["threads"], xnnpack=not kw["no_xnnpack"], ort_opt_level=kw["ort_opt_level"],
                          **settings))


def open_target(options):
    """The target of a command's TargetOptions, closed however the command ends (a phone's work
    directory is removed)."""
    from .targets import open_target as opened

    target = opened(options)
    click.get_current_context().call_on_close(target.close)
    return target


def target_inputs(device: str | None, kw: dict) -> dict:
    """The files measuring on DEVICE reads (its profile, a phone's binaries), as inputs no
    output of the command may overwrite."""
    from .core.resources import device_dirs, find_yaml

    return {"the device profile": device and find_yaml(device_dirs(), device),
            "--benchmark-binary": kw.get("benchmark_binary"), "--executorch-runner": kw.get("executorch_runner")}


def farm_profiles(device: str | None, farm: str | None) -> list[str] | None:
    """`--device P1,P2 --farm ADDRESS`: the profiles, each of which measures the whole grid (one
    after the other, each over all its devices); None where --device names one (or none)."""
    from .targets.farm import check_profiles
    from .targets.profiles import load_device

    if not device or "," not in device:
        return None
    profiles = list(dict.fromkeys(p.strip() for p in device.split(",")))
    if farm is None:
        raise UserError(f"--device {device}: several profiles need --farm (one device measures one grid)")
    for p in profiles:
        load_device(p)   # a bad name fails before any profile is measured
    check_profiles(farm, profiles)   # and so does a profile no device of the farm offers
    return profiles


def per_profile(path: str | None, profile: str) -> str | None:
    """An output of one profile's grid among several: NAME.PROFILE.EXT beside NAME.EXT."""
    from pathlib import Path

    if path is None:
        return None
    p = Path(path)
    return str(p.with_name(f"{p.stem}.{profile}{p.suffix}"))


def each_profile(command, profiles: list[str], outputs: dict[str, str], inputs: dict[str, str] | None = None,
                 one_document: str | None = None) -> None:
    """The click command again for each profile, its outputs (parameter: option) named per profile
    and every one checked first, as are its `inputs`, read per profile (a table `lut build` wrote
    for each); stops at the first that is interrupted or fails to store, and exits with the worst
    code. `one_document`: the option given that prints one JSON document, which several profiles
    cannot."""
    from pathlib import Path

    from .core.output import check_output

    ctx = click.get_current_context()
    if one_document:
        raise UserError(f"{one_document} prints one document: with several profiles (--device "
                        f"{','.join(profiles)}) use another format, or one profile a command")
    for option, flag in (inputs or {}).items():
        for p in profiles:
            path = per_profile(ctx.params.get(option), p)
            if path and not Path(path).is_file():
                raise UserError(f"{flag} {path}: no such file (with several profiles each reads its own, "
                                "NAME.PROFILE.EXT, as `lut build --device P1,P2` writes them)")
    for option, flag in outputs.items():
        for p in profiles:
            if ctx.params.get(option):
                check_output(flag, per_profile(ctx.params[option], p))
    worst = 0
    for p in profiles:
        click.echo(f"== {p} ==", err=True)
        try:
            ctx.invoke(command, **{**ctx.params, "device": p,
                                   **{o: per_profile(ctx.params.get(o), p) for o in {**outputs, **(inputs or {})}}})
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
            if code in (3, 130):
                raise
            worst = max(worst, code)
    if worst:
        sys.exit(worst)
