"""A farm: the devices of one profile that `farm join` offered a Ray cluster, measured from the
command that asks, which stores what they send back as it arrives.

Groups are independent (a group's cells are compared only with each other), so each goes, whole,
to whichever device is free; the command keeps one group in flight per device, and Ray's custom
resources make a device measure one task at a time, across commands. A device whose node dies or
that fails in a way that is the device's (cannot be reached, went away) is taken out and its group
given to another; a group that fails on one device is tried on one other before its error counts.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import DeviceLost, UserError, one_line
from ..core.results import Job, RawMeasurement
from ..measure.adaptive import Interrupted
from ..measure.protocol import Protocol
from .base import GroupWork, Target, TargetOptions
from .farm_device import COMPANION_SUFFIXES, KV_NAMESPACE, RESOURCE_PREFIX, FarmDevice

POLL_S = 1.0           # how often a command looks for finished groups and nodes that left
CONNECT_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 30.0      # how long Ctrl-C waits for the devices' tasks to stop
QUEUED_PER_DEVICE = 2   # groups sent to a device at once: the one it measures and the next
TRIES_PER_GROUP = 2    # a group's own error is believed once two devices gave it


def check_reachable(address: str) -> None:
    """One line at once where nothing listens at ADDRESS (Ray itself retries for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"farm address {address!r} is not HOST:PORT (the head's, as `ray start --head` printed "
                        "it) or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise UserError(f"cannot reach the farm at {address}: {e.strerror or one_line(e)} (is `ray start --head` "
                        "running there?)") from None


def connect(address: str) -> None:
    """This process as a driver of the cluster at `address` (HOST:PORT, or ray://HOST:PORT)."""
    check_reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return
    # Ray's core installs C handlers that end the process on SIGTERM at once; the tool's own
    # (core/interrupts.py: stop cleanly, keep what finished) go back in after it
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    _cluster_messages_to_stderr()
    try:
        ray.init(address=address, namespace=KV_NAMESPACE, logging_level=logging.ERROR, log_to_driver=False,
                 configure_logging=True)
    except Exception as e:   # ConnectionError, or a RuntimeError naming what it found at the address
        raise UserError(f"cannot join the farm at {address}: {one_line(e)} (is `ray start --head` running "
                        "there, and RAY_AUTH_TOKEN its token?)") from None
    finally:
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)


def _cluster_messages_to_stderr() -> None:
    """What the cluster tells a driver (a node that died, a worker that crashed) Ray 2.60 prints to
    stdout, where a command's tables and JSON go (its error listener calls print_to_stdstream with
    is_err False): it goes to stderr instead."""
    from ray._private import worker

    printer = worker.print_to_stdstream
    if getattr(printer, "to_stderr", False):
        return

    def to_stderr(data, ignore_prefix):
        return printer({**data, "is_err": True}, ignore_prefix)

    to_stderr.to_stderr = True
    worker.print_to_stdstream = to_stderr


def farm_nodes() -> list[dict]:
    """Every live node that offers devices: {node_id, host, devices: [FarmDevice...], busy: {resource},
    measured: {resource: cells}, progress: {resource: where its group stands, or None}}."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from .farm_device import node_devices

    nodes = [n for n in ray.nodes() if n.get("Alive") and any(r.startswith(RESOURCE_PREFIX) for r in n["Resources"])]
    ask = ray.remote(num_cpus=0, max_retries=0)(node_devices)
    refs = [ask.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
            for n in nodes]
    free = ray.available_resources()
    found = []
    for node, ref in zip(nodes, refs):
        try:
            info = ray.get(ref, timeout=60)
        except Exception:   # it left while we asked
            continue
        devices = [FarmDevice.from_json({k: v for k, v in d.items() if k not in ("measured", "progress")})
                   for d in info["devices"]]
        found.append({"node_id": node["NodeID"], "address": node["NodeManagerAddress"], "host": info["host"],
                      "devices": devices, "measured": {d["resource"]: d["measured"] for d in info["devices"]},
                      "progress": {d["resource"]: d["progress"] for d in info["devices"]},
                      "busy": {d.resource for d in devices if free.get(d.resource, 0) < 1}})
    return found


def check_profiles(address: str, profiles: list[str]) -> None:
    """One line, before anything is measured, where the farm has no device of some of PROFILES."""
    connect(address)
    offered = {d.profile for n in farm_nodes() for d in n["devices"]}
    missing = [p for p in profiles if p not in offered]
    if missing:
        raise UserError(_none_of(address, missing))


def _none_of(address: str, profiles: list[str]) -> str:
    return (f"the farm at {address} has no {' or '.join(profiles)} device; `mbv3bench farm status {address}` "
            "lists what it has, `mbv3bench farm join` adds one")


def _alive_resources() -> set[str]:
    import ray

    return {r for n in ray.nodes() if n.get("Alive") for r in n["Resources"] if r.startswith(RESOURCE_PREFIX)}


@dataclass
class DeviceActivity:
    """One device of a farm as a progress display shows it."""
    device: FarmDevice
    doing: str | None = None        # the group under way
    progress: dict | None = None    # where it stands, as the device last said (farm_device.device_progress)
    done: int = 0                   # groups measured
    out: str | None = None          # why it was taken out


@dataclass
class FarmActivity:
    """Where a farm's measurement stands: every device, and when all should be done."""
    devices: list[DeviceActivity]
    remaining: int
    eta_s: float | None = None


@dataclass
class _Run:
    groups: list[GroupWork]
    todo: deque = field(default_factory=deque)
    running: dict = field(default_factory=dict)      # ObjectRef -> (DeviceActivity, group index, task), as sent
    started: float = field(default_factory=time.monotonic)
    failed_on: dict = field(default_factory=dict)    # group index -> {resource: error}


class FarmTarget(Target):
    kind = "farm"
    parallel = True

    def __init__(self, profile: dict, options: TargetOptions):
        self.name, self.address, self.core, self.device_kind = profile["name"], options.farm, None, profile["kind"]
        connect(options.farm)
        self._blobs: dict[str, object] = {}
        self._sessions: dict[str, object] = {}
        self._closed = False
        self.activity = [DeviceActivity(d) for n in farm_nodes() for d in n["devices"] if d.profile == self.name]
        if not self.activity:
            raise UserError(_none_of(options.farm, [self.name]))

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "device_kind": self.device_kind, "farm": self.address,
                "devices": [{"label": a.device.label, "serial": a.device.serial, "host": a.device.host,
                             "core": a.device.core} for a in self.activity]}

    def state(self) -> dict:
        """Each measurement carries its own device's state; the farm itself has none to read."""
        return {}

    def memory_budget(self) -> int | None:
        """None: each device's own target keeps its groups within its memory."""
        return None

    def devices(self) -> list[str]:
        return [a.device.resource for a in self.activity if a.out is None]

    def device_label(self, device: str) -> str:
        return next(a.device.label for a in self.activity if a.device.resource == device)

    def count_instructions(self, jobs: list[Job]) -> list[RawMeasurement]:
        return self.measure_group(GroupWork(jobs, Protocol(), [j.variant for j in jobs], "instructions"))

    def close(self) -> None:
        """Leaves the cluster, and names each device taken out on the way (the live display that
        showed it is gone by now)."""
        import ray

        if self._closed:
            return
        self._closed = True
        closing = {r: session.close.remote() for r, session in self._sessions.items()}
        for resource, ref in closing.items():
            try:
                ray.get(ref, timeout=STOP_TIMEOUT_S)
            except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError):
                pass   # its node is gone, or it hangs: Ray ends the session as this command leaves
        for a in self.activity:
            if a.out:
                print(f"warning: {a.device.label} ({a.device.host}) was taken out after {a.done} group(s): {a.out}",
                      file=sys.stderr)
        if ray.is_initialized():
            ray.shutdown()

    def _files(self, job: Job) -> list[tuple[str, object]] | None:
        """The artifact (and its companions), put in the object store once per command."""
        import ray

        if job.artifact is None:
            return None
        path = Path(job.artifact)
        if job.artifact not in self._blobs:
            self._blobs[job.artifact] = [(p.name, ray.put(p.read_bytes())) for p in
                                         [path, *(path.with_suffix(s) for s in COMPANION_SUFFIXES)] if p.is_file()]
        return self._blobs[job.artifact]

    def _session(self, resource: str):
        """This command's session on the device (an actor holding its resource), made at its first group."""
        import ray

        from .farm_device import DeviceSession

        if resource not in self._sessions:
            actor = ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(DeviceSession)
            self._sessions[resource] = actor.options(resources={resource: 1}).remote(resource)
        return self._sessions[resource]

    def _send(self, run: _Run, activity: DeviceActivity, i: int) -> None:
        group = run.groups[i]
        files = [self._files(j) for j in group.jobs]
        flat = [ref for f in files if f for _, ref in f]
        token = os.urandom(8).hex()
        ref = self._session(activity.device.resource).measure.remote(
            token, group, [[n for n, _ in f] if f else None for f in files], *flat)
        run.running[ref] = (activity, i, token)

    def _idle(self, run: _Run) -> list[DeviceActivity]:
        """The devices with room for a group: each has one measuring and the next waiting in its
        session's queue, so it never waits for the command between groups."""
        held = [id(a) for a, *_ in run.running.values()]
        return [a for a in self.activity if a.out is None and held.count(id(a)) < QUEUED_PER_DEVICE]

    def _eta(self, run: _Run) -> float | None:
        """At the rate groups have come back so far."""
        done = sum(a.done for a in self.activity)
        if not done:
            return None
        return (time.monotonic() - run.started) / done * (len(run.todo) + len(run.running))

    def _show(self, run: _Run, on_progress) -> None:
        from .farm_device import device_progress

        for a in self.activity:   # the first group sent to it is the one it measures
            a.doing = next((", ".join(run.groups[i].labels) for b, i, _ in run.running.values() if b is a), None)
            a.progress = device_progress(a.device.resource) if a.doing and on_progress is not None else None
        if on_progress is not None:
            on_progress(FarmActivity(self.activity, len(run.todo) + len(run.running), self._eta(run)))

    def _take_out(self, run: _Run, activity: DeviceActivity, why: str) -> None:
        import ray

        activity.out = why
        session = self._sessions.pop(activity.device.resource, None)
        if session is not None:
            ray.kill(session)   # its device, if it lives on, is free for other commands
        for ref, (a, i, _) in list(run.running.items()):
            if a is activity:
                del run.running[ref]
                run.todo.appendleft(i)   # measured again, first, on another device

    def measure_groups(self, groups, on_progress=None, on_start=lambda i: None):
        import ray

        run = _Run(groups, deque(range(len(groups))))
        last_check = time.monotonic()
        try:
            while run.todo or run.running:
                sent = True
                while sent:   # a group to each device with room, round after round
                    sent = False
                    for activity in self._idle(run):
                        mine = activity.device.resource
                        untried = [i for i in run.todo if mine not in run.failed_on.get(i, {})
                                   and groups[i].device in (None, mine)]
                        if untried:
                            run.todo.remove(untried[0])
                            on_start(untried[0])
                            self._send(run, activity, untried[0])
                            sent = True
                if not run.running:
                    if any(a.out is None for a in self.activity):
                        # no device left can take the groups left: they failed on every one, or
                        # were for a device that is out
                        while run.todo:
                            i = run.todo.popleft()
                            yield i, UserError(self._why_not(run, i))
                        continue
                    raise DeviceLost(self._none_left(run))
                self._show(run, on_progress)
                ready, _ = ray.wait(list(run.running), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    activity, i, _ = run.running.pop(ref)
                    outcome = self._outcome(run, activity, i, ref)
                    if outcome is not None:
                        yield i, outcome
                if time.monotonic() - last_check > POLL_S:
                    last_check = time.monotonic()
                    alive = _alive_resources()
                    for activity in self.activity:
                        if activity.out is None and activity.device.resource not in alive:
                            self._take_out(run, activity, "its node left the farm")
            self._show(run, on_progress)
        except KeyboardInterrupt as e:
            # each device's task stops as Ctrl-C stops a local one (a phone's files and clock mode
            # given back) and sends what its finished processes measured, which is kept
            from .farm_device import ask_to_stop

            for _, _, token in run.running.values():
                ask_to_stop(token)
            refs = list(run.running)
            ready = ray.wait(refs, num_returns=len(refs), timeout=STOP_TIMEOUT_S)[0] if refs else []
            for ref in ready:
                _, i, _ = run.running[ref]
                try:
                    answer = ray.get(ref)
                except ray.exceptions.RayError:
                    continue
                if answer.get("raws"):
                    yield i, answer["raws"]
            raise Interrupted([], e) from None

    def _outcome(self, run: _Run, activity: DeviceActivity, i: int, ref):
        """Group i's outcome from `activity`'s device, or None where it is to be measured again."""
        import ray

        try:
            answer = ray.get(ref)
        except ray.exceptions.RayTaskError as e:   # the tool's own code failed there: a bug, reported as the group's
            answer = {"error": f"{type(e.cause).__name__}: {one_line(e.cause)}", "device_fault": False}
        except ray.exceptions.RayError as e:   # the node died, or the worker did
            self._take_out(run, activity, f"lost: {one_line(e, 120)}")
            run.todo.appendleft(i)
            return None
        if "raws" in answer:
            activity.done += 1
            return answer["raws"]
        if answer["device_fault"]:
            self._take_out(run, activity, answer["error"])
            run.todo.appendleft(i)
            return None
        tried = run.failed_on.setdefault(i, {})
        tried[activity.device.resource] = f"{answer['error']} (on {activity.device.label})"
        if len(tried) < TRIES_PER_GROUP and any(a.out is None and a.device.resource not in tried
                                                for a in self.activity):
            run.todo.appendleft(i)
            return None
        return UserError(tried[activity.device.resource])

    def _why_not(self, run: _Run, i: int) -> str:
        failures = list(run.failed_on.get(i, {}).values())
        if failures:
            return failures[-1]
        out = next(a for a in self.activity if a.device.resource == run.groups[i].device)
        return f"{out.device.label} is out of the farm: {out.out}"

    def _none_left(self, run: _Run) -> str:
        why = "; ".join(f"{a.device.label}: {a.out}" for a in self.activity)
        return (f"no {self.name} device is left in the farm at {self.address} ({len(run.todo)} group(s) not "
                f"measured; {why}); what finished is stored: run again with --resume once one joins")

