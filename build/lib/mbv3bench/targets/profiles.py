"""Device profiles (devices/*.yaml and a user's --devices-dir), read safely, checked field by field.
A profile name is a file stem inside a profile folder, never a path."""
from __future__ import annotations

import yaml

from ..core.errors import UserError
from ..core.resources import device_dirs, display, find_yaml, names_in

KINDS = ("local", "android")


def device_names() -> list[str]:
    return names_in(device_dirs())


def load_device(name: str) -> dict:
    path = find_yaml(device_dirs(), name)
    if path is None:
        raise UserError(f"unknown device {name[:100]!r}; allowed: {', '.join(device_names())} "
                        "(or a profile of yours in --devices-dir)")
    where = display(path)
    try:
        profile = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise UserError(f"{where}: not valid YAML ({str(e).splitlines()[0][:200]})") from None
    if not isinstance(profile, dict):
        raise UserError(f"{where}: expected a mapping of fields")
    if profile.get("kind") not in KINDS:
        raise UserError(f"{where}.kind: {profile.get('kind')!r} is not allowed; allowed: {', '.join(KINDS)}")
    return {**profile, "name": name}
