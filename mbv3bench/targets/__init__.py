"""Where a model runs: the local pinned core, or (devices of kind android) a phone over ADB."""
from __future__ import annotations


def open_target(profile: dict, *, core: int | None = None, **options):
    if profile["kind"] == "local":
        from .local import LocalTarget
        return LocalTarget(profile, core)
    from .android.target import AdbTarget
    return AdbTarget(profile, core=core, **options)
