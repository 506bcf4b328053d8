"""Device profiles (devices/*.yaml and a user's --devices-dir), read safely, checked field by field.
A profile name is a file stem inside a profile folder, never a path."""
from __future__ import annotations

from ..core.errors import UserError, shown
from ..core.resources import device_dirs, display, find_yaml, names_in
from ..core.untrusted import MiB, read_yaml

KINDS = ("local", "android")
PROFILE_LIMIT = 1 * MiB     # a profile is a few hundred bytes


def device_names() -> list[str]:
    return names_in(device_dirs())


def load_device(name: str) -> dict:
    path = find_yaml(device_dirs(), name)
    if path is None:
        raise UserError(f"unknown device {shown(name)}; allowed: {', '.join(device_names())} "
                        "(or a profile of yours in --devices-dir)")
    where = display(path)
    profile = read_yaml(path, PROFILE_LIMIT, "device profile")
    if not isinstance(profile, dict):
        raise UserError(f"{where}: expected a mapping of fields")
    if profile.get("kind") not in KINDS:
        raise UserError(f"{where}.kind: {shown(profile.get('kind'))} is not allowed; allowed: {', '.join(KINDS)}")
    return {**profile, "name": name}
