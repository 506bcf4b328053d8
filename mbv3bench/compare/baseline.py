"""Baselines meant to be committed: a results document plus where it came from (tool and runtime
versions, device, git revision, when), so a later comparison can refuse one that does not fit."""
from __future__ import annotations

import getpass
import platform
import time
from importlib import metadata
from pathlib import Path

from ..core.results import Result, envelope
from ..export.artifacts import exporter_versions
from ..store import git_rev


def provenance() -> dict:
    return {"tool": "mbv3bench", "tool_version": metadata.version("mbv3bench"), "versions": exporter_versions(),
            "git_rev": git_rev(Path.cwd()), "tool_git_rev": git_rev(), "host": platform.node(), "user": getpass.getuser(),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def baseline_document(results: list[Result], device: dict, source: str) -> dict:
    ok = [r for r in results if r.ok]
    return envelope(ok, device, kind="baseline", source=source, provenance=provenance())
