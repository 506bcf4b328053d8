"""A real Ray cluster for the farm's tests: a head and `farm join`s on 127.0.0.1, inside a network
namespace with only loopback that the test module makes for itself.

Ray 2.60 ignores --node-ip-address=127.0.0.1 where the machine has another interface (it takes
that address and listens on every interface); in a namespace with only loopback it takes
127.0.0.1, and nothing of a test reaches any other address. The namespace is this thread's
(unshare(CLONE_NEWNET) acts on the calling thread), so the test body, the ADB doubles it starts
and every process it spawns are inside it, and the thread goes back to the machine's own at the end.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from mbv3bench.commands.farm import NODE_PORTS, free_ports

CLONE_NEWNET = 0x40000000
START_TIMEOUT_S = 180.0


class NoNamespace(Exception):
    """This machine cannot make a network namespace here (needs root or user namespaces)."""


@contextmanager
def loopback_namespace():
    libc = ctypes.CDLL(None, use_errno=True)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise NoNamespace(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
            yield
        finally:
            if libc.setns(original, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the machine's network namespace")
    finally:
        os.close(original)


def _stop_group(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 60) -> None:
    """The process and its group stopped (a join's group holds its Ray node), SIGKILL if it lingers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _wait_for(log: Path, text: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while text not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)


class Cluster:
    """A Ray head on 127.0.0.1 (`ray start --head --block`, this process's child) and the joins the
    tests start; everything stopped at the end."""

    def __init__(self, folder: Path, env: dict):
        self.folder, self.env = folder, env
        self.joins: list[subprocess.Popen] = []
        self.port = free_ports(1)[0]
        self.address = f"127.0.0.1:{self.port}"
        log = folder / "head.log"
        ports = [f"--{n}={p}" for n, p in zip(NODE_PORTS, free_ports(len(NODE_PORTS)))]
        with open(log, "wb") as out:
            self.head = subprocess.Popen(
                [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", f"--port={self.port}", "--num-cpus=0",
                 "--include-dashboard=false", "--disable-usage-stats", "--block", *ports],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            _wait_for(log, "Ray runtime started", self.head, "the Ray head")
        except BaseException:
            self.stop()
            raise

    def join(self, *args: str) -> subprocess.Popen:
        """`mbv3bench farm join ADDRESS ARGS` in its own process group, once it has joined."""
        log = self.folder / f"join-{len(self.joins)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "mbv3bench.cli", "farm", "join", self.address, *args],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                                    start_new_session=True)
        self.joins.append(proc)
        proc.log = log
        _wait_for(log, "joined the farm", proc, "farm join")
        return proc

    def kill(self, join: subprocess.Popen) -> None:
        """The join's whole process group SIGKILLed: its host died."""
        os.killpg(join.pid, signal.SIGKILL)
        join.wait()

    def leave(self, join: subprocess.Popen) -> int:
        """SIGTERM: the join leaves the farm; its exit code."""
        _stop_group(join)
        return join.returncode

    def stop(self) -> None:
        for join in self.joins:
            _stop_group(join)
        _stop_group(self.head)

    def command(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "mbv3bench.cli", *args], env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                start_new_session=True, **kw)
