"""Baselines meant to be committed: a results document plus where it came from (the versions its
results were measured with, device, git revision, when), so a later comparison can tell what
changed. The versions and the device's description are those of the results' own runs, never
this process's."""
from __future__ import annotations

import getpass
import platform
import time
from importlib import metadata
from pathlib import Path

from ..core.registry import RUNTIME_PACKAGES
from ..core.results import Result, envelope
from ..export.artifacts import EXPORTERS
from ..store import git_rev

PACKAGES = {*EXPORTERS, *RUNTIME_PACKAGES.values()}   # what a run records beside them is no version


def provenance(versions: dict | None) -> dict:
    return {"tool": "mbv3bench", "tool_version": metadata.version("mbv3bench"), "versions": versions or None,
            "git_rev": git_rev(Path.cwd()), "tool_git_rev": git_rev(), "host": platform.node(), "user": getpass.getuser(),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def revisions_on(branch: str, where: Path | None = None) -> set[str]:
    """Every commit on BRANCH (reachable from it) in the checkout the store's runs recorded their
    revisions from: this tool's own, as `git_rev()` reads it."""
    import subprocess

    from ..core.errors import UserError

    where = where or Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "rev-list", branch, "--"], capture_output=True, text=True, timeout=60, cwd=where)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UserError(f"--from-db {branch}: cannot ask git which commits are on it ({e})") from None
    if done.returncode:
        why = (done.stderr.strip().splitlines() or ["no reason given"])[0][:160]
        raise UserError(f"--from-db {branch}: not a branch or revision of the checkout {where} (git: {why})")
    return set(done.stdout.split())


def merged_versions(recorded: list[dict]) -> dict:
    """One package -> version map of several runs: a package they disagree on keeps every version
    (`2.2.0 | 2.3.0`), so a comparison sees it differ from any single one."""
    merged: dict[str, list] = {}
    for versions in recorded:
        for package, version in versions.items():
            if package in PACKAGES and version not in merged.setdefault(package, []):
                merged[package].append(version)
    return {p: v[0] if len(v) == 1 else " | ".join(map(str, v)) for p, v in merged.items()}


def of_results(described: dict, results: list[Result]) -> dict:
    """The device's description with the core its results ran on (None when they ran on several)."""
    cores = {r.core for r in results}
    return {**described, "core": cores.pop() if len(cores) == 1 else None}


def baseline_document(results: list[Result], device: dict, source: str, versions: dict | None) -> dict:
    ok = [r for r in results if r.ok]
    return envelope(ok, of_results(device, ok), kind="baseline", source=source, provenance=provenance(versions))
