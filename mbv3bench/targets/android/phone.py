"""Facts a phone tells about itself over any transport: its properties and its cores' top clocks.
Shared by the target (which checks them against a profile), `devices` and `devices add`."""
from __future__ import annotations

import re

QUICK_TIMEOUT_S = 30      # getprop, cat, sha256sum, rm

PROPS = {  # our name -> getprop key
    "model": "ro.product.model", "manufacturer": "ro.product.manufacturer",
    "soc_model": "ro.soc.model", "soc_manufacturer": "ro.soc.manufacturer", "platform": "ro.board.platform",
    "abi": "ro.product.cpu.abi", "abilist": "ro.product.cpu.abilist", "android": "ro.build.version.release",
    "sdk": "ro.build.version.sdk", "serialno": "ro.serialno", "fingerprint": "ro.build.fingerprint",
}
_MAX_FREQS = ("for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq; "
              'do echo "$f $(cat "$f")"; done')


def phone_info(link) -> dict:
    """The properties, None where the phone has none (ro.soc.* exist from Android 12 on)."""
    # one line per property, each prefixed, so an empty value cannot shift the others
    _, out = link.shell("; ".join(f"echo \"{name}=$(getprop {key})\"" for name, key in PROPS.items()),
                        QUICK_TIMEOUT_S)
    values = {name: value.strip() or None for name, _, value in
              (line.partition("=") for line in out.splitlines()) if name in PROPS}
    info = {name: values.get(name) for name in PROPS}
    info["soc"] = info["soc_model"] or info["platform"]
    info["sdk"] = int(info["sdk"]) if (info["sdk"] or "").isdigit() else None
    info["abilist"] = [a for a in (info["abilist"] or info["abi"] or "").split(",") if a]
    return info


def max_freqs_khz(link) -> dict[int, int]:
    """cpu -> cpuinfo_max_freq; empty when sysfs does not say."""
    _, out = link.shell(_MAX_FREQS, QUICK_TIMEOUT_S)
    return {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"/cpu(\d+)/cpufreq/\S+ (\d+)", out)}


def top_cores(freqs: dict[int, int]) -> list[int]:
    """The large cores: those at the highest cpuinfo_max_freq."""
    return sorted(c for c, khz in freqs.items() if khz == max(freqs.values())) if freqs else []


def mask(cores) -> str:
    """taskset's hexadecimal CPU mask of `cores`."""
    return format(sum(1 << c for c in cores), "x")
