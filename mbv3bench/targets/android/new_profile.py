"""`devices add`: a device profile written from what the phone says about itself, so a user's own
phone needs no hand-edited YAML."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ...core.errors import UserError
from ...core.resources import BUILTIN_DEVICES, DEVICES_ENV, is_plain_name
from .phone import mask, max_freqs_khz, phone_info, top_cores

BINARY_BY_ABI = {"arm64-v8a": "~/.cache/mbv3bench/benchmark_model_aarch64",
                 "armeabi-v7a": "~/.cache/mbv3bench/benchmark_model_arm"}


def profile_path(name: str, devices_dir: str | None, force: bool) -> Path:
    """Where NAME's profile goes: --devices-dir, else the first $MBV3BENCH_DEVICES_DIR folder, else
    ./devices; never the profiles shipped inside the package."""
    if not is_plain_name(name) or name.startswith("_"):
        raise UserError(f"profile name {name[:100]!r} must be a plain file stem (letters, digits, '_', '.', '-'; "
                        "not starting with '_'), e.g. myphone")
    folder = Path(devices_dir or next((p for p in os.environ.get(DEVICES_ENV, "").split(os.pathsep) if p),
                                      "devices"))
    if folder.resolve() == BUILTIN_DEVICES.resolve():
        raise UserError(f"{folder} holds the profiles shipped with mbv3bench; pass --devices-dir DIR for yours")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--devices-dir {folder}: not a folder")
    path = folder / f"{name}.yaml"
    if path.exists() and not force:
        raise UserError(f"{path} exists: pass --force to overwrite it")
    return path


def profile_text(name: str, serial: str, link) -> tuple[str, dict]:
    """The YAML of the phone behind `link` (every value read from it, JSON-quoted: JSON is YAML)."""
    info = phone_info(link)
    freqs = max_freqs_khz(link)
    cores = top_cores(freqs)
    if not cores:
        raise UserError(f"{serial} does not show its cores' cpuinfo_max_freq, so its large cores are unknown; "
                        "copy devices/_template.yaml and fill it in by hand")
    q = json.dumps
    soc = " ".join(x for x in (info["soc_manufacturer"], info["soc_model"]) if x) or info["platform"]
    clocks = ", ".join(f"cpu{c} {khz / 1000:g}" for c, khz in sorted(freqs.items()))
    text = f"""\
# {info['manufacturer'] or ''} {info['model'] or ''}, written by `mbv3bench devices add {name} --serial {q(serial)}`
# from the phone itself (getprop and sysfs). Build {info['fingerprint'] or 'unknown'}
# cpuinfo_max_freq (MHz): {clocks}
name: {q(name)}
kind: android
description: {q(f"{info['manufacturer'] or ''} {info['model'] or serial}".strip())}
serial: {q(serial)}  # used when --serial is not given
model: {q(info['model'])}  # getprop ro.product.model (a mismatch is only a warning)
soc: {q(soc)}
soc_platform: {q(info['platform'])}  # getprop ro.board.platform
abi: {q(info['abi'])}  # getprop ro.product.cpu.abi: pick the benchmark_model build for it
android: {q(info['android'])}
sdk: {info['sdk'] if info['sdk'] is not None else 'null'}
# the large cores: those with the highest cpuinfo_max_freq; the first one is pinned (--core overrides)
large_cores: {q(cores)}
large_cores_mask: {q(mask(cores))}  # taskset mask of large_cores
benchmark_binary: {q(BINARY_BY_ABI.get(info['abi'] or '', '~/.cache/mbv3bench/benchmark_model'))}  # on the host; --benchmark-binary overrides
workdir: /data/local/tmp/mbv3bench  # on the phone, writable and executable by the shell user
thermal_limit_c: 50  # any thermal zone above this (degrees C): cool down and measure again
max_thermal_status: 0  # Android's thermal status above this (0 NONE, 1 LIGHT, ...): cool down
cooldown_secs: 120  # longest wait for a cool-down, polling (--cooldown-secs overrides)
"""
    return text, {**info, "large_cores": cores, "mask": mask(cores)}
