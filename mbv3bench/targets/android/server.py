"""The adb-server route: the `adbutils` package speaks the server's protocol (host:devices-l,
host:tport, shell:, sync:), so the phone is reached exactly as `adb -s SERIAL` reaches it, with the
server's key and its USB or `adb connect` links. The server's port is ANDROID_ADB_SERVER_PORT
(default 5037), like the adb client's."""
from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import adbutils
from adbutils._adb import AdbConnection
from adbutils.errors import AdbError, AdbTimeout

from ...core.errors import UserError
from .transport import RC, LinkLost, LinkTimeout, NotAuthorized, PullFailed, PushFailed, Transport

HOST = "127.0.0.1"
DEFAULT_PORT = 5037
PROBE_TIMEOUT_S = 3       # a live server answers host:version at once
SYNC_CHUNK = 64 * 1024    # the sync protocol's largest DATA packet


def server_port() -> int:
    text = os.environ.get("ANDROID_ADB_SERVER_PORT") or str(DEFAULT_PORT)
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UserError(f"ANDROID_ADB_SERVER_PORT={text!r}: expected a TCP port number, e.g. 5037")
    return int(text)


def absent() -> str:
    return f"no adb server answers on {HOST}:{server_port()}"


class _NoStart(AdbConnection):
    """A connection that never starts a server: whether one runs is the user's choice (adbutils'
    own connection runs `adb start-server` when it finds none)."""

    def _safe_connect(self):
        return self._create_socket()


class _Client(adbutils.AdbClient):
    def make_connection(self, timeout: float | None = None) -> AdbConnection:
        conn = _NoStart(self.host, self.port)
        conn.conn.settimeout(timeout or PROBE_TIMEOUT_S)
        return conn


# what a failed link raises: adbutils' own errors, socket errors, and EOFError from read_exact
LINK_ERRORS = (AdbError, OSError, EOFError)


@dataclass(frozen=True)
class ServerView:
    """What a running adb server said: its version and the phones it lists, with their state."""
    port: int
    version: int
    devices: tuple[tuple[str, str], ...]   # (serial, state): device, unauthorized, offline, ...

    @property
    def route(self) -> str:
        return f"adb server 1.0.{self.version} on {HOST}:{self.port}"

    def not_listed(self, serial: str | None) -> str:
        listed = ", ".join(f"{s} ({state})" for s, state in self.devices) or "no phone"
        return (f"the {self.route} does not list {serial or 'a phone'} (it lists {listed}); "
                "for a phone on TCP run `adb connect HOST:PORT` first")

    def choose(self, serial: str | None, *, required: bool) -> str | None:
        """The serial to use through the server; None when it does not know the phone (and the
        caller may go direct). A phone the server lists but cannot use is an error either way."""
        states = dict(self.devices)
        if serial is None:
            ready = [s for s, state in self.devices if state == "device"]
            if len(ready) > 1:
                raise UserError(f"the {self.route} lists several phones ({', '.join(ready)}): pass --serial")
            serial = ready[0] if ready else next(iter(states), None)
        state = states.get(serial) if serial else None
        if state == "device":
            return serial
        if state == "unauthorized":
            raise NotAuthorized(f"{serial} has not authorized this computer: accept the key on the phone's screen "
                            "(\"Allow USB debugging?\"), then run again")
        if state is not None:
            raise UserError(f"{serial} is {state} on the {self.route}: reconnect it (or `adb reconnect`)")
        if required:
            raise UserError(self.not_listed(serial))
        return None


def probe() -> ServerView | None:
    """The running server's view, or None when nothing answers on its port."""
    try:
        client = _Client(HOST, server_port())
        version = client.server_version()
        devices = tuple((d.serial, d.state) for d in client.list())
    except (*LINK_ERRORS, ValueError):  # ValueError: something else answers on the port
        return None
    return ServerView(client.port, version, devices)


class ServerTransport(Transport):
    kind = "server"

    def __init__(self, view: ServerView, serial: str):
        self.serial, self.route = serial, view.route
        self._device = _Client(HOST, view.port).device(serial)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except (AdbTimeout, socket.timeout) as e:
            raise LinkTimeout(str(e) or "timed out") from None
        except LINK_ERRORS as e:
            raise LinkLost(str(e) or type(e).__name__) from None

    def _exec(self, command: str, timeout: float) -> str:
        out = self._call(self._read_shell, command, timeout)
        if RC not in out:
            # The server ends a shell stream quietly when the phone goes away; ask it which it was.
            state = self._call(self._device.get_state)
            if state != "device":
                raise LinkLost(f"the {self.route} lists {self.serial} as {state}")
        return out

    def _read_shell(self, command: str, timeout: float) -> str:
        # adbutils' own shell() times out only between reads; this is a deadline for the whole command
        deadline = time.monotonic() + timeout
        conn = self._device.open_shell(command)
        out = bytearray()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout(f"no end of output within {timeout:g} s")
                conn.conn.settimeout(left)
                chunk = conn.conn.recv(65536)
                if not chunk:
                    return out.decode("utf-8", "replace")
                out += chunk
        finally:
            conn.close()  # the server closes the shell on the phone, which kills what still runs

    def push(self, local: Path, remote: str, timeout: float) -> None:
        self._call(self._send, local, remote, timeout)

    def _send(self, local: Path, remote: str, timeout: float) -> None:
        """sync SEND, read to the end: adbutils reports a refusal only as "FAIL", without the phone's
        reason (e.g. "No space left on device"), which is what the user needs to see."""
        conn = self._device.open_transport(timeout=timeout)
        try:
            conn.send_command("sync:")
            conn.check_okay()
            sock = conn.conn
            spec = f"{remote},{0o100755}".encode()
            try:
                sock.sendall(b"SEND" + struct.pack("<I", len(spec)) + spec)
                with open(local, "rb") as f:
                    while chunk := f.read(SYNC_CHUNK):
                        sock.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                sock.sendall(b"DONE" + struct.pack("<I", int(time.time())))
            except BrokenPipeError:
                pass  # the phone gave up on the upload: its FAIL, already sent, says why
            status, length = struct.unpack("<4sI", conn.read_exact(8))
            if status == b"FAIL":
                raise PushFailed(conn.read_exact(length).decode("utf-8", "replace"))
            if status != b"OKAY":
                raise LinkLost(f"unexpected sync answer {status!r}")
        finally:
            conn.close()

    def pull(self, remote: str, local: Path, timeout: float) -> None:
        self._call(self._recv, remote, local, timeout)

    def _recv(self, remote: str, local: Path, timeout: float) -> None:
        """sync RECV by hand, for the same reason as _send: the phone's FAIL text is the message."""
        conn = self._device.open_transport(timeout=timeout)
        try:
            conn.send_command("sync:")
            conn.check_okay()
            path = remote.encode()
            conn.conn.sendall(b"RECV" + struct.pack("<I", len(path)) + path)
            with open(local, "wb") as f:
                while True:
                    status, length = struct.unpack("<4sI", conn.read_exact(8))
                    if status == b"DONE":
                        return
                    if status == b"FAIL":
                        raise PullFailed(conn.read_exact(length).decode("utf-8", "replace"))
                    if status != b"DATA" or length > SYNC_CHUNK:
                        raise LinkLost(f"unexpected sync answer {status!r}")
                    f.write(conn.read_exact(length))
        finally:
            conn.close()

    def close(self) -> None:
        pass  # each call has its own connection to the server, closed when the call ends
