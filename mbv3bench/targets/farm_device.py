"""A farm's device on the host it is plugged into: what `farm join` offers the cluster, and the
tool's own functions a Ray worker runs there (measure a group, say what this node offers).

Each device is one unit of its own custom resource, so Ray lets one task at a time hold it: one
device measures one thing at a time, whichever command asks. The node's Ray workers inherit its
environment from `farm join`, which puts the devices there (DEVICES_ENV): a worker measuring on
device R finds how to reach R there, not in what the command sent, so a command can only name a
device, never redirect it.
"""
from __future__ import annotations

import _thread
import hashlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..core.errors import DeviceLost, UserError, one_line
from .base import GroupWork, PhoneOptions, TargetOptions

RESOURCE_PREFIX = "mbv3bench_device_"
DEVICES_ENV = "MBV3BENCH_FARM_DEVICES"
KV_NAMESPACE = "mbv3bench"
# files a runtime reads beside an artifact: ExecuTorch's ETRecord maps its ops back to modules
COMPANION_SUFFIXES = (".etrecord",)
STOP_POLL_S = 0.5
PROGRESS_EVERY_S = 1.0   # how often a device says where its group stands


@dataclass(frozen=True)
class FarmDevice:
    """One device a join offers: its resource name, its profile and how its host reaches it."""
    resource: str
    profile: str
    host: str
    serial: str | None = None       # a phone's; None: a local core, or the host's only phone
    core: int | None = None         # None: the profile's
    transport: str = "auto"
    benchmark_binary: str | None = None
    executorch_runner: str | None = None
    cooldown_secs: float | None = None

    @property
    def label(self) -> str:
        if self.serial is not None:
            return self.serial
        return f"{self.host} core {self.core}" if self.core is not None else f"{self.host} (its only {self.profile})"

    def target_options(self) -> TargetOptions:
        return TargetOptions(self.profile, self.core, PhoneOptions(
            self.serial, self.transport, benchmark_binary=self.benchmark_binary,
            executorch_runner=self.executorch_runner, cooldown_secs=self.cooldown_secs))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "FarmDevice":
        return cls(**d)


def new_resource(profile: str) -> str:
    return f"{RESOURCE_PREFIX}{profile}_{os.urandom(4).hex()}"


def joined_devices() -> list[FarmDevice]:
    """The devices of the node this runs on (in a Ray worker: what its `farm join` offered)."""
    return [FarmDevice.from_json(d) for d in json.loads(os.environ.get(DEVICES_ENV) or "[]")]


def node_devices() -> dict:
    """What a node offers, for `farm status` and a command looking for devices."""
    return {"host": socket.gethostname(),
            "devices": [{**d.to_json(), "measured": measured_count(d.resource), "progress": device_progress(d.resource)}
                        for d in joined_devices()]}


def measured_count(resource: str) -> int:
    from ray.experimental.internal_kv import _internal_kv_get

    value = _internal_kv_get(f"measured:{resource}", namespace=KV_NAMESPACE)
    return int(value) if value else 0


def _count_measured(resource: str, cells: int) -> None:
    # one task holds a device at a time, so this read-modify-write has no rival
    from ray.experimental.internal_kv import _internal_kv_put

    _internal_kv_put(f"measured:{resource}", str(measured_count(resource) + cells), overwrite=True,
                     namespace=KV_NAMESPACE)


def session_cache() -> Path:
    """This worker's folder for the artifacts commands send it, in the host's temporary folder; the
    folders of workers that are gone (a session killed before it closed) are removed first, so a
    host's disk holds only what live sessions use."""
    root = Path(tempfile.gettempdir()) / f"mbv3bench-farm-{os.getuid()}"
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.iterdir():
        if folder.name.isdigit() and not _alive(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
    return root / str(os.getpid())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process
        return True
    return True


def device_progress(resource: str) -> dict | None:
    """Where the group a device measures stands: {labels, phase, done, unit (what `done` counts:
    processes or rounds), elapsed_s, eta_s}; None while it measures nothing (or has not said yet)."""
    from ray.experimental.internal_kv import _internal_kv_get

    value = _internal_kv_get(f"progress:{resource}", namespace=KV_NAMESPACE)
    return json.loads(value) if value else None


class _ProgressToFarm:
    """measure/adaptive.py's progress of a group, put where the command and `farm status` read it,
    at most once every PROGRESS_EVERY_S."""

    def __init__(self, resource: str, unit: str):
        self.key, self.unit, self.said = f"progress:{resource}", unit, 0.0

    def __call__(self, snapshot) -> None:
        from ray.experimental.internal_kv import _internal_kv_put

        if time.monotonic() - self.said < PROGRESS_EVERY_S and snapshot.phase == "timing":
            return
        self.said = time.monotonic()
        _internal_kv_put(self.key, json.dumps({
            "labels": snapshot.labels, "phase": snapshot.phase, "done": snapshot.processes, "unit": self.unit,
            "elapsed_s": round(snapshot.elapsed_s, 1),
            "eta_s": None if snapshot.eta_s is None else round(snapshot.eta_s, 1)}), overwrite=True,
            namespace=KV_NAMESPACE)

    def clear(self) -> None:
        from ray.experimental.internal_kv import _internal_kv_del

        _internal_kv_del(self.key, namespace=KV_NAMESPACE)


def _materialized(cache: Path, names: list[list[str] | None], blobs: tuple[bytes, ...]) -> list[str | None]:
    """Each job's artifact written into `cache` (by content), its companions beside it: job j's
    files are names[j] (None: torch builds its module), their bytes in order in `blobs`."""
    data = iter(blobs)
    paths = []
    for job_names in names:
        if job_names is None:
            paths.append(None)
            continue
        files = [(name, next(data)) for name in job_names]
        folder = cache / hashlib.sha256(files[0][1]).hexdigest()
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files:
            path = folder / name
            if not path.is_file() or path.stat().st_size != len(content):
                partial = folder / f".{name}.partial"
                partial.write_bytes(content)
                partial.replace(path)
        paths.append(str(folder / files[0][0]))
    return paths


def stop_key(task: str) -> str:
    return f"stop:{task}"


def ask_to_stop(task: str) -> None:
    """The task measuring stops as Ctrl-C stops a local measurement (what its finished processes
    measured comes back). Ray's own ray.cancel races with the task's reply and can crash the
    command's Ray driver (ray-project/ray#54798), so the task watches for this key instead."""
    from ray.experimental.internal_kv import _internal_kv_put

    _internal_kv_put(stop_key(task), "1", overwrite=True, namespace=KV_NAMESPACE)


@contextmanager
def _stopped_by_key(task: str):
    """KeyboardInterrupt in this (the task's main) thread once the command asks this task to stop."""
    from ray.experimental.internal_kv import _internal_kv_del, _internal_kv_get

    done = threading.Event()

    def watch() -> None:
        while not done.wait(STOP_POLL_S):
            if _internal_kv_get(stop_key(task), namespace=KV_NAMESPACE):
                _thread.interrupt_main()
                return

    threading.Thread(target=watch, name="farm-stop-watch", daemon=True).start()
    try:
        if _internal_kv_get(stop_key(task), namespace=KV_NAMESPACE):   # asked while it waited its turn
            raise KeyboardInterrupt
        yield
    finally:
        done.set()
        _internal_kv_del(stop_key(task), namespace=KV_NAMESPACE)


class DeviceSession:
    """One command's hold on one device (a Ray actor holding the device's resource while the
    command runs): the device's target opened once, at the first group, and closed when the
    command is done, so a group costs what measuring it costs."""

    def __init__(self, resource: str):
        self.resource, self.target = resource, None
        self.device = next((d for d in joined_devices() if d.resource == resource), None)
        self.cache = session_cache()

    def measure(self, task: str, group: GroupWork, names: list[list[str] | None], *blobs: bytes) -> dict:
        """`group` measured on the device, its artifacts from the bytes the command sent (as
        top-level arguments, so Ray hands over the bytes, not references). {"raws": [...]} with
        the device named in each raw's device_state ("interrupted": true where the command asked
        it to stop: what the finished processes measured), or {"error": message, "device_fault":
        bool} (the device, not the group, failed: it cannot be reached, or went away)."""
        from ..measure.adaptive import Interrupted
        from . import open_target

        if self.device is None:
            return {"error": f"this node offers no device {self.resource}", "device_fault": True}
        paths = _materialized(self.cache, names, blobs)
        jobs = [replace(j, artifact=p) for j, p in zip(group.jobs, paths)]
        try:
            if self.target is None:
                self.target = open_target(self.device.target_options())
        except UserError as e:
            return {"error": str(e), "device_fault": True}
        interrupted = False
        progress = _ProgressToFarm(self.resource, "processes" if self.target.kind == "local" else "rounds")
        try:
            with _stopped_by_key(task):
                raws = self.target.measure_group(replace(group, jobs=jobs), progress)
        except Interrupted as e:
            if not isinstance(e.cause, KeyboardInterrupt):
                return self._lost(e.cause)
            raws, interrupted = e.raws, True
        except KeyboardInterrupt:
            return {"raws": [], "interrupted": True}
        except DeviceLost as e:
            return self._lost(e)
        except UserError as e:
            return {"error": str(e), "device_fault": False}
        except Exception as e:   # a bug must reach the command as one line, with the device named
            return {"error": f"{type(e).__name__}: {one_line(e)}", "device_fault": False}
        finally:
            progress.clear()
        d = self.device
        for raw in raws:
            raw.device_state = {**raw.device_state, "serial": d.serial, "host": d.host, "farm_device": d.resource,
                                "device_label": d.label, **({"core": d.core} if d.core is not None else {})}
        _count_measured(self.resource, len(raws))
        return {"raws": raws, "interrupted": interrupted}

    def _lost(self, e: BaseException) -> dict:
        self.close()
        return {"error": str(e), "device_fault": True}

    def close(self) -> None:
        """The device given back (a phone's files and clock mode) and the artifacts sent to it
        removed; a second call does nothing."""
        target, self.target = self.target, None
        shutil.rmtree(self.cache, ignore_errors=True)
        if target is not None:
            target.close()
