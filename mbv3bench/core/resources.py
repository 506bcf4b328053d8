"""Where the tool finds its data: the model specs, device profiles and reference CSVs that ship
inside the package (the repo's top-level models/ and devices/ point here), plus a user's own
folders, searched first: --models-dir / --devices-dir, or MBV3BENCH_MODELS_DIR /
MBV3BENCH_DEVICES_DIR (several folders separated by the path separator). The options set the
environment variables, so the pinned worker processes see the same folders."""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import UserError, shown

PACKAGE_DATA = Path(__file__).resolve().parent.parent / "data"
BUILTIN_MODELS = PACKAGE_DATA / "models"
BUILTIN_DEVICES = PACKAGE_DATA / "devices"
MODELS_ENV, DEVICES_ENV = "MBV3BENCH_MODELS_DIR", "MBV3BENCH_DEVICES_DIR"
# a spec or profile name is a file stem in one of the folders, never a path out of them
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _dirs(env: str, builtin: Path) -> list[Path]:
    user = [Path(p) for p in os.environ.get(env, "").split(os.pathsep) if p]
    return user + [builtin]


def model_dirs() -> list[Path]:
    return _dirs(MODELS_ENV, BUILTIN_MODELS)


def device_dirs() -> list[Path]:
    return _dirs(DEVICES_ENV, BUILTIN_DEVICES)


def is_plain_name(name: str) -> bool:
    """A file stem inside a folder, never a path out of it."""
    return bool(_NAME.fullmatch(name)) and ".." not in name


PLAIN_NAME_RULE = "letters, digits, '_', '.', '-'"
_warned: set[Path] = set()


def names_in(dirs: list[Path], what: str = "profile", is_name: Callable[[str], bool] = is_plain_name,
             rule: str = PLAIN_NAME_RULE) -> list[str]:
    """The YAML files' stems across the folders (a name the user's folder also has counts once).
    Names starting with "_" are templates. A file whose stem cannot be a `what` name (a stray
    a.b.yaml among model specs) or that is not a regular file is skipped, with a warning on stderr
    the first time, so one odd file does not break the listing of the others."""
    names = set()
    for d in dirs:
        for p in sorted(d.glob("*.yaml")):
            if p.stem.startswith("_"):
                continue
            if not p.is_file():
                _skip(p, "not a regular file")
            elif not is_plain_name(p.stem) or not is_name(p.stem):
                _skip(p, f"{shown(p.stem, 40)} cannot be a {what} name ({rule}; at most 100 characters)")
            else:
                names.add(p.stem)
    return sorted(names)


def _skip(path: Path, why: str) -> None:
    if path not in _warned:
        _warned.add(path)
        print(f"warning: skipping {shown(str(path), 200)}: {why}", file=sys.stderr)


def find_yaml(dirs: list[Path], name: str) -> Path | None:
    """The first folder's NAME.yaml; None for a name that is not a plain file stem."""
    if not is_plain_name(name):
        return None
    for d in dirs:
        path = d / f"{name}.yaml"
        if path.is_file():
            return path
    return None


def use_dirs(models: tuple[str, ...] | list[str], devices: tuple[str, ...] | list[str]) -> None:
    """The CLI's --models-dir / --devices-dir: checked, then put in front of the search path."""
    for env, given, option in ((MODELS_ENV, models, "--models-dir"), (DEVICES_ENV, devices, "--devices-dir")):
        for d in given:
            if not Path(d).is_dir():
                raise UserError(f"{option} {d}: not a folder")
        if given:
            old = [p for p in os.environ.get(env, "").split(os.pathsep) if p]
            os.environ[env] = os.pathsep.join([str(Path(d).resolve()) for d in given] + old)


def display(path: Path) -> str:
    """How a message names a data file: models/x.yaml for the shipped ones, the full path otherwise."""
    for builtin, label in ((BUILTIN_MODELS, "models"), (BUILTIN_DEVICES, "devices")):
        if path.parent == builtin:
            return f"{label}/{path.name}"
    return str(path)
