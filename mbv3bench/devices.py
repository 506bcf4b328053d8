"""Device profiles (devices/*.yaml), read safely, checked field by field."""
from __future__ import annotations

from pathlib import Path

import yaml

from .errors import UserError

DEVICES_DIR = Path(__file__).resolve().parent.parent / "devices"
KINDS = ("local", "android")


def device_names() -> list[str]:
    return sorted(p.stem for p in DEVICES_DIR.glob("*.yaml") if not p.stem.startswith("_"))


def load_device(name: str) -> dict:
    path = DEVICES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UserError(f"unknown device {name!r}; allowed: {', '.join(device_names())}")
    try:
        profile = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"devices/{path.name}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(profile, dict):
        raise UserError(f"devices/{path.name}: expected a mapping of fields")
    if profile.get("kind") not in KINDS:
        raise UserError(f"devices/{path.name}.kind: {profile.get('kind')!r} is not allowed; allowed: {', '.join(KINDS)}")
    return {**profile, "name": name}
