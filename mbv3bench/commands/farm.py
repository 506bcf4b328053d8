"""`farm join` and `farm status`: a host's devices offered to a Ray cluster, and what the cluster has.

The head is Ray's own (`ray start --head`). A join is one Ray node, started by `ray start --block`
as this process's child and in its process group: Ctrl-C or SIGTERM here stops it cleanly (Ray
takes the node out at once), and SIGKILL of the group takes the node down like a host that dies
(the node's processes die with `ray start`: Ray sets PR_SET_PDEATHSIG on them).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from ..core.errors import UserError
from ..options import PHONE_LINK_OPTIONS

STARTED = "Ray runtime started"
START_TIMEOUT_S = 120.0
LEAVE_TIMEOUT_S = 30.0
# ray start's ports that default to fixed numbers or collide between two nodes on one host
NODE_PORTS = ("node-manager-port", "object-manager-port", "dashboard-agent-listen-port",
              "dashboard-agent-grpc-port", "runtime-env-agent-port", "metrics-export-port")


@click.group()
def farm():
    """A device farm on Ray: phones (or quiet cores) on many hosts, measured by `--farm ADDRESS`."""


def _options(f):
    for opt in reversed([
        click.argument("address"),
        click.option("--device", required=True, help="The device profile of what this host offers."),
        click.option("--serial", multiple=True, help="A phone to offer (repeat for each; default: the only phone)."),
        click.option("--core", type=int, help="The core to pin (local: the one this host offers; default the "
                                              "profile's)."),
        *PHONE_LINK_OPTIONS,
    ]):
        f = opt(f)
    return f


def free_ports(n: int) -> list[int]:
    """n ports free on loopback now (Ray binds them on every interface)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _devices(device, serials, core, transport, binaries: dict, cooldown_secs) -> list:
    """The devices this join offers, each checked by opening it (a phone that cannot be reached,
    or a core this host lacks, fails here, before the cluster hears of it)."""
    from ..options import target_options
    from ..targets import open_target
    from ..targets.farm_device import FarmDevice, new_resource
    from ..targets.profiles import load_device

    kind = load_device(device)["kind"]
    # each phone binary's host path (`binaries`: by its option's name), absolute: Ray's workers run elsewhere
    binaries = {name: str(Path(path).resolve()) if path else None for name, path in binaries.items()}
    devices = []
    for serial in serials or (None,):
        options = target_options({"core": core, "serial": serial, "transport": transport, **binaries,
                                  "cooldown_secs": cooldown_secs}, device)
        target = open_target(options)
        try:
            target.describe()
            checked_core = target.core if kind == "local" else core
        finally:
            target.close()
        devices.append(FarmDevice(new_resource(device), device, socket.gethostname(), serial, checked_core,
                                  transport, cooldown_secs=cooldown_secs, **binaries))
    return devices


def _start_node(address: str, devices: list, log) -> subprocess.Popen:
    from ..targets.farm_device import DEVICES_ENV

    ports = [f"--{name}={port}" for name, port in zip(NODE_PORTS, free_ports(len(NODE_PORTS)))]
    env = {**os.environ, DEVICES_ENV: json.dumps([d.to_json() for d in devices]), "RAY_USAGE_STATS_ENABLED": "0"}
    # num-cpus 0: nothing but the farm's own tasks (which ask for no CPU) runs beside the devices
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", f"--address={address}", "--num-cpus=0",
               f"--resources={json.dumps({d.resource: 1 for d in devices})}", "--disable-usage-stats", "--block",
               *ports]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "rror" in line]
    return (errors or lines or ["no output"])[-1][:300]


def _wait_started(node: subprocess.Popen, log_path: Path, address: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while STARTED not in log_path.read_text(errors="replace"):
        if node.poll() is not None:
            raise UserError(f"could not join the farm at {address}: Ray's node stopped ({_last_line(log_path)})")
        if time.monotonic() > deadline:
            raise UserError(f"could not join the farm at {address} within {START_TIMEOUT_S:.0f} s "
                            f"({_last_line(log_path)})")
        time.sleep(0.2)


def _leave(node: subprocess.Popen) -> None:
    if node.poll() is None:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(LEAVE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()


@farm.command("join")
@_options
def join(address, device, serial, core, transport, benchmark_binary, executorch_runner, cooldown_secs):
    """Offer this host's devices to the Ray cluster at ADDRESS (HOST:PORT of its head), until
    Ctrl-C or SIGTERM. Each device measures one thing at a time."""
    from ..targets.farm import check_reachable
    from ..targets.profiles import load_device

    if load_device(device)["kind"] == "local" and serial:   # what was typed, before anything is reached
        raise UserError(f"--serial is a phone's option; device {device} is not a phone")
    check_reachable(address)
    devices = _devices(device, serial, core, transport,
                       {"benchmark_binary": benchmark_binary, "executorch_runner": executorch_runner}, cooldown_secs)
    folder = Path(tempfile.mkdtemp(prefix="mbv3bench-join-"))
    log_path = folder / "ray-start.log"
    with open(log_path, "wb") as log:
        node = _start_node(address, devices, log)
    try:
        _wait_started(node, log_path, address)
        click.echo(f"joined the farm at {address}: {len(devices)} {device} device(s) "
                   f"({', '.join(d.label for d in devices)}); Ctrl-C or SIGTERM leaves it (Ray's log: {log_path})")
        node.wait()
        raise UserError(f"Ray's node of this join stopped (exit {node.returncode}): {_last_line(log_path)}")
    except KeyboardInterrupt:
        _leave(node)
        click.echo(f"left the farm at {address}")
    finally:
        _leave(node)   # whatever ended the join (a second call does nothing)


@farm.command("status")
@click.argument("address")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(address, as_json):
    """The nodes of the farm at ADDRESS that offer devices, and each device: profile, serial,
    host, core, idle or busy, cells measured, and what it is measuring and how far it is."""
    from ..targets.farm import connect, farm_nodes

    import ray

    connect(address)
    try:
        nodes = farm_nodes()
    finally:
        ray.shutdown()
    doc = {"farm": address, "nodes": [
        {"node_id": n["node_id"], "address": n["address"], "host": n["host"],
         "devices": [{"profile": d.profile, "serial": d.serial, "host": d.host, "core": d.core,
                      "state": "busy" if d.resource in n["busy"] else "idle",
                      "measured": n["measured"].get(d.resource, 0), "resource": d.resource,
                      "measuring": n["progress"].get(d.resource)}
                     for d in n["devices"]]} for n in nodes]}
    if as_json:
        from ..core.output import dumps

        return click.echo(dumps(doc))
    from rich.table import Table

    from ..progress import where_it_stands
    from ..ui import console

    table = Table(title=f"farm at {address}: {len(nodes)} node(s) with devices", title_justify="left")
    for col in ("node", "host", "device", "serial", "core", "state", "cells measured", "measuring"):
        table.add_column(col)
    for n in doc["nodes"]:
        for d in n["devices"]:
            now = d["measuring"]
            table.add_row(n["node_id"][:12], d["host"], d["profile"], d["serial"] or "-",
                          "-" if d["core"] is None else str(d["core"]), d["state"], str(d["measured"]),
                          f"{', '.join(now['labels'])} ({where_it_stands(now)})" if now else "-")
    console().print(table)
