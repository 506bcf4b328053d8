"""Where a model runs (targets/base.py): the local pinned core, a phone over ADB, or a farm of them."""
from __future__ import annotations

from .base import Target, TargetOptions


def open_target(options: TargetOptions) -> Target:
    """The target the options name: the one place that knows every kind."""
    from .profiles import load_device

    profile = load_device(options.device)
    if options.farm is not None:
        from .farm import FarmTarget
        return FarmTarget(profile, options)
    if profile["kind"] == "local":
        from .local import LocalTarget
        return LocalTarget(profile, options.core)
    from .android.target import AdbTarget
    return AdbTarget(profile, options.core, options.phone)
