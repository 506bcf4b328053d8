"""Device profiles (devices/*.yaml and a user's --devices-dir), read safely, checked field by field.
A profile name is a file stem inside a profile folder, never a path."""
from __future__ import annotations

from ..core.errors import UserError, shown
from ..core.fields import Field, read_fields
from ..core.resources import device_dirs, display, find_yaml, names_in
from ..core.untrusted import MiB, read_yaml
from ..measure.protocol import MAX_SECS

KINDS = ("local", "android")
PROFILE_LIMIT = MiB // 16   # a profile is a few hundred bytes

_TEXT = Field(str)
_PATH = Field(str, longest=1024, pattern=r"[^\x00]*", says="a path of at most 1,024 characters")
_COMMON = {"name": _TEXT, "kind": Field(str, allowed=KINDS), "description": _TEXT}
# every field a profile of each kind may have: what devices/_template.yaml and `devices add` write
FIELDS = {
    "local": {**_COMMON,
              "core": Field(int, 0, 4095, words=("last",)),
              "threads": Field(int, 1, 256)},
    "android": {**_COMMON,
                "model": _TEXT, "soc": _TEXT, "soc_platform": _TEXT, "abi": _TEXT, "android": _TEXT,
                "sdk": Field(int, 1, 1000),
                "serial": Field(str, longest=300, says="an adb serial or HOST:PORT (text: quote a number)"),
                "large_cores": Field(list, longest=1024, items=Field(int, 0, 4095)),
                "large_cores_mask": Field(str, longest=1024, pattern=r"[0-9a-fA-F]+",
                                          says="a hexadecimal taskset mask, quoted, e.g. \"f0\""),
                "benchmark_binary": _PATH,
                "executorch_runner": _PATH,
                "workdir": Field(str, longest=1024, pattern=r"/[^\x00]*",
                                 says="an absolute path on the phone, e.g. /data/local/tmp/mbv3bench"),
                "thermal_limit_c": Field(float, 20, 150),
                "max_thermal_status": Field(int, 0, 6),      # Android's PowerManager THERMAL_STATUS_*
                "cooldown_secs": Field(float, 0, MAX_SECS)},
}


def device_names() -> list[str]:
    return names_in(device_dirs())


def load_device(name: str) -> dict:
    """The profile's fields as checked (those it gives; the targets default the rest), and its name."""
    path = find_yaml(device_dirs(), name)
    if path is None:
        raise UserError(f"unknown device {shown(name)}; allowed: {', '.join(device_names())} "
                        "(or a profile of yours in --devices-dir)")
    where = display(path)
    profile = read_yaml(path, PROFILE_LIMIT, "device profile")
    if not isinstance(profile, dict):
        raise UserError(f"{where}: expected a mapping of fields, got {shown(profile)}")
    kind = profile.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise UserError(f"{where}.kind: {shown(kind)} is not allowed; allowed: {', '.join(KINDS)}")
    return {**read_fields(profile, FIELDS[kind], where), "name": name}
