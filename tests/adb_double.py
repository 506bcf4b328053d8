"""A fake Android phone for tests: the device (adbd) side of the ADB transport protocol.

`AdbDeviceDouble` listens on 127.0.0.1 and speaks the real wire protocol (24-byte
headers, CNXN/AUTH/OPEN/OKAY/WRTE/CLSE), so both adb-shell's `AdbDeviceTcp` and
Google's `adb` client (`adb connect 127.0.0.1:PORT`) can talk to it.

The "device" is a temporary sandbox folder.  Device paths map into it
(`/data/local/tmp/x` -> `<sandbox>/data/local/tmp/x`).  Services:

* `shell:CMD` / `exec:CMD` -- v1 shell (raw output stream, then CLSE).  CMD runs under
  the host's real `/bin/sh -c` (so quoting is real), cwd = sandbox, with
  `<sandbox>/system/bin` (stubs for getprop, taskset, reboot, dumpsys, cmd: see
  adb_double_stubs.py) first on PATH
  and the directory of the running Python second (so `#!/usr/bin/env python3` scripts
  pushed to the device run with the test's interpreter).  Before running, device paths
  in CMD are rewritten by a plain textual substitution: every `/data/`, `/sys/`,
  `/sdcard/` and `/proc/cpuinfo` that does not follow a word character, `.`, `/` or `-`
  gets the sandbox prefixed.  It is not a parser: such text inside data is rewritten
  too, and `/data` without the trailing slash is not.  In the output, `<sandbox>/` is
  mapped back to `/`, so programs print device paths as they would on a phone.
* `sync:` -- file sync v1: STAT, LIST, SEND, RECV, QUIT.  SEND writes only below
  /data/ and /sdcard/ (elsewhere FAIL "Read-only file system"); below /sdcard/ the mode is
  dropped (0660, so nothing there is executable, like the real noexec FUSE mount); past
  `set_free_space` it fails with "No space left on device".
* `reboot:` -- only appends a line to `<sandbox>/REBOOTED` (like the `reboot` stub).
* anything else (e.g. `shell:` without a command = interactive, `root:`) is refused
  with CLSE, the way adbd refuses a service it cannot open.
"""

from __future__ import annotations

import base64
import os
import posixpath
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from adb_double_stubs import stubs


def _wire(name: bytes) -> int:
    return struct.unpack("<I", name)[0]


CNXN, AUTH, OPEN, OKAY, WRTE, CLSE = map(_wire, (b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"WRTE", b"CLSE"))
_NAMES = {_wire(n): n.decode() for n in (b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"WRTE", b"CLSE")}

VERSION = 0x01000001  # A_VERSION_SKIP_CHECKSUM: peers at this version send checksum 0
VERSION_MIN = 0x01000000  # peers at this version (adb-shell) send byte-sum checksums
MAX_PAYLOAD = 1024 * 1024  # what modern adbd offers in its CNXN
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
SYNC_DATA_MAX = 64 * 1024
# No shell_v2 (so clients use the raw v1 shell), no stat_v2/ls_v2/sendrecv_v2 (so they
# use sync v1).  fixed_push_mkdir: SEND creates missing parent directories.
FEATURES = "fixed_push_mkdir"
WRITABLE_ROOTS = ("/data/", "/sdcard/")
_DEVICE_PATH_RE = re.compile(r"(?<![\w./-])(/data/|/sys/|/sdcard/|/proc/cpuinfo)")
# PKCS#1 v1.5 DigestInfo prefix for SHA-1: adb signs the 20-byte token as if it were a SHA-1 digest.
_SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")
_THERMAL_TYPES = ("cpu0-silver-usr", "cpu4-gold-usr", "gpu0-usr", "battery", "skin-therm", "xo-therm")
_SDK_BY_RELEASE = {"9": 28, "10": 29, "11": 30, "12": 31, "13": 33, "14": 34, "15": 35}


def _parse_adb_pubkey(text: str) -> tuple[int, int]:
    """(n, e) from an adbkey.pub line: base64 of Android's RSAPublicKey struct (little-endian words)."""
    blob = base64.b64decode(text.strip().split()[0])
    (nwords,) = struct.unpack_from("<I", blob, 0)
    n = int.from_bytes(blob[8 : 8 + 4 * nwords], "little")
    (e,) = struct.unpack_from("<I", blob, 8 + 8 * nwords)
    return n, e


def _signature_ok(signature: bytes, token: bytes, key: tuple[int, int]) -> bool:
    n, e = key
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    digest_info = _SHA1_DIGEST_INFO + token
    return em == b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info


class _Stream:
    """One open service on a connection; fed by the connection's reader thread."""

    def __init__(self, conn: "_Conn", local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.cond = threading.Condition()
        self.okays = 0
        self.buf = bytearray()
        self.closed = False
        self.proc: subprocess.Popen | None = None

    def feed(self, data: bytes) -> None:
        with self.cond:
            self.buf += data
            self.cond.notify_all()

    def acked(self) -> None:
        with self.cond:
            self.okays += 1
            self.cond.notify_all()

    def write(self, data: bytes) -> bool:
        """Send data as WRTE packets; like adbd, wait for the peer's OKAY before the next one."""
        step = self.conn.max_payload
        for i in range(0, len(data), step):
            with self.cond:
                if self.closed:
                    return False
            # Not under the lock: the reader must stay free to take the peer's OKAY/CLSE.
            self.conn.send(WRTE, self.local_id, self.remote_id, data[i : i + step])
            with self.cond:
                self.cond.wait_for(lambda: self.okays or self.closed)
                if not self.okays:
                    return False
                self.okays -= 1
        return True

    def read_exact(self, n: int) -> bytes | None:
        with self.cond:
            self.cond.wait_for(lambda: len(self.buf) >= n or self.closed)
            if len(self.buf) < n:
                return None
            out = bytes(self.buf[:n])
            del self.buf[:n]
            return out

    def close(self, send: bool = True) -> None:
        """Close once, whoever comes first (our service ending, or the peer's CLSE)."""
        with self.cond:
            if self.closed:
                return
            self.closed = True
            proc, self.proc = self.proc, None
            self.cond.notify_all()
        if proc is not None:  # the client went away: adbd kills the shell
            _kill_group(proc)
        self.conn.streams.pop(self.local_id, None)
        if send:
            try:
                self.conn.send(CLSE, self.local_id, self.remote_id)
            except OSError:
                pass


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Conn:
    """One TCP connection from a host; a reader thread plus one thread per open service."""

    def __init__(self, dev: "AdbDeviceDouble", sock: socket.socket):
        self.dev, self.sock = dev, sock
        self.send_lock = threading.Lock()
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.version = VERSION_MIN  # until CNXN tells us the peer's version
        self.max_payload = 4096
        self.online = False
        self.token = b""
        self.threads: list[threading.Thread] = []
        self.reader = threading.Thread(target=self._serve, name="adb-double-conn", daemon=True)

    def send(self, cmd: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        header = struct.pack("<6I", cmd, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF)
        with self.send_lock:
            self.sock.sendall(header + data)

    def _recv_exact(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            try:
                # Clients such as adb-shell send header and payload in two writes; with Nagle on
                # their side and delayed ACKs on ours every request would stall ~40 ms.  Linux
                # drops quick-ACK mode on its own, so re-arm it before every read.
                if hasattr(socket, "TCP_QUICKACK"):
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                chunk = self.sock.recv(n - len(buf))
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def reset(self) -> None:
        """Drop the connection with a TCP RST, so the host's next read/write fails at once."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()

    def _spawn(self, target, *args) -> None:
        self.threads = [t for t in self.threads if t.is_alive()]
        t = threading.Thread(target=target, args=args, name="adb-double-service", daemon=True)
        self.threads.append(t)
        t.start()

    def _serve(self) -> None:
        try:
            self._serve_packets()
        except OSError:
            pass  # the host went away, or we dropped it on purpose
        finally:
            for stream in list(self.streams.values()):
                stream.close(send=False)
            for t in self.threads:
                t.join()
            try:
                self.sock.close()
            except OSError:
                pass
            self.dev._forget(self)

    def _serve_packets(self) -> None:
        while True:
            header = self._recv_exact(24)
            if header is None:
                break
            cmd, arg0, arg1, length, check, magic = struct.unpack("<6I", header)
            if magic != cmd ^ 0xFFFFFFFF or cmd not in _NAMES or length > MAX_PAYLOAD:
                break  # garbage on the wire: adbd drops the connection too
            data = self._recv_exact(length) if length else b""
            if data is None:
                break
            if self.version < VERSION and sum(data) & 0xFFFFFFFF != check:
                break
            self.dev._record(cmd, arg0, arg1, data)
            if self.dev._dead and cmd != CLSE:
                self.reset()  # fault injection (disconnect_after)
                return
            self._dispatch(cmd, arg0, arg1, data)

    def _connected(self) -> None:
        self.online = True
        self.send(CNXN, VERSION, MAX_PAYLOAD, self.dev.banner.encode())

    def _dispatch(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        dev = self.dev
        if cmd == CNXN:
            self.version = min(arg0, VERSION)
            self.max_payload = max(1, min(arg1, MAX_PAYLOAD))
            if dev.require_auth and not self.online:
                self.token = os.urandom(20)
                self.send(AUTH, AUTH_TOKEN, 0, self.token)
            else:
                self._connected()
        elif cmd == AUTH and not self.online:
            if arg0 == AUTH_SIGNATURE:
                if any(_signature_ok(data, self.token, key) for key in dev._trusted_keys):
                    self._connected()
                else:  # adbd answers a bad signature with a fresh token
                    self.token = os.urandom(20)
                    self.send(AUTH, AUTH_TOKEN, 0, self.token)
            elif arg0 == AUTH_RSAPUBLICKEY:
                # A real phone shows "Allow USB debugging?": the double taps Allow (True), Deny (False),
                # or leaves the dialog open (None), when the host hears nothing and lists the phone unauthorized.
                if dev.accept_new_keys is None:
                    return
                if not dev.accept_new_keys:
                    self.reset()  # RST rather than silence, so the host fails fast instead of timing out
                    raise OSError("public key refused")
                dev._trusted_keys.append(_parse_adb_pubkey(data.rstrip(b"\0").decode()))
                self._connected()
        elif not self.online:
            return  # adbd ignores everything but the handshake until the transport is online
        elif cmd == OPEN:
            self._open(arg0, data.rstrip(b"\0").decode("utf-8", "replace"))
        elif cmd == OKAY:
            stream = self.streams.get(arg1)
            if stream:
                stream.acked()
        elif cmd == WRTE:
            stream = self.streams.get(arg1)
            if stream:
                self.send(OKAY, arg1, arg0)  # we buffer without limit, so acknowledge at once
                stream.feed(data)
        elif cmd == CLSE:
            stream = self.streams.get(arg1)
            if stream:
                stream.close()  # adbd answers a CLSE with its own (adb-shell waits for it)

    def _open(self, remote_id: int, service: str) -> None:
        dev = self.dev
        kind, _, rest = service.partition(":")
        if kind in ("shell", "exec") and rest:
            if not dev._count_shell(rest):
                dev._go_dead()
                self.reset()
                raise OSError("disconnected by fault injection")
            target, args = self._run_shell, (rest,)
        elif service == "sync:":
            target, args = self._run_sync, ()
        elif kind == "reboot":
            with open(dev.reboot_log, "a") as f:
                f.write(f"service {service}\n")
            target, args = (lambda stream: stream.close()), ()  # accepted, then closed: nothing rebooted
        else:
            self.send(CLSE, 0, remote_id)  # adbd's way of saying "cannot open that service"
            return
        local_id = self.next_id
        self.next_id += 1
        stream = _Stream(self, local_id, remote_id)
        self.streams[local_id] = stream
        self.send(OKAY, local_id, remote_id)
        self._spawn(target, stream, *args)

    # ---- services -------------------------------------------------------------------

    def _run_shell(self, stream: _Stream, command: str) -> None:
        dev = self.dev
        proc = None
        try:
            proc = dev._popen(command)
            if proc is None:
                return
            with stream.cond:
                if stream.closed:
                    _kill_group(proc)
                else:
                    stream.proc = proc
            # Map sandbox paths in the output back to device paths, holding back a tail that
            # may be the start of a sandbox path split across two reads.
            token = str(dev.sandbox).encode() + b"/"
            pending = b""
            while True:
                chunk = os.read(proc.stdout.fileno(), 65536)
                data = pending + chunk
                keep = 0 if not chunk else next(
                    (k for k in range(min(len(token) - 1, len(data)), 0, -1) if data.endswith(token[:k])), 0)
                data, pending = data[: len(data) - keep], data[len(data) - keep :]
                if data and not stream.write(data.replace(token, b"/")):
                    _kill_group(proc)
                    break
                if not chunk:
                    break
            proc.wait()
            with stream.cond:
                stream.proc = None  # reaped: never signal this pid (group) again
        except OSError:
            pass
        finally:
            if proc is not None:
                proc.stdout.close()
                proc.wait()
            stream.close()
            dev._shell_done()

    def _run_sync(self, stream: _Stream) -> None:
        try:
            while True:
                header = stream.read_exact(8)
                if header is None:
                    break
                sid, length = struct.unpack("<4sI", header)
                if sid == b"QUIT":
                    break
                if length > 1024:
                    self._sync_fail(stream, "path too long")
                    break
                arg = stream.read_exact(length)
                if arg is None:
                    break
                path = arg.decode("utf-8", "replace")
                if sid == b"STAT":
                    self._sync_stat(stream, path)
                elif sid == b"LIST":
                    self._sync_list(stream, path)
                elif sid == b"RECV":
                    self._sync_recv(stream, path)
                elif sid == b"SEND":
                    if not self._sync_send(stream, path):
                        break
                else:
                    self._sync_fail(stream, f"unknown command {sid!r}")
                    break
        except OSError:
            pass
        finally:
            stream.close()

    @staticmethod
    def _sync_fail(stream: _Stream, message: str) -> None:
        msg = message.encode()
        stream.write(b"FAIL" + struct.pack("<I", len(msg)) + msg)

    def _sync_stat(self, stream: _Stream, path: str) -> None:
        try:
            st = os.lstat(self.dev.device_path(path))
            fields = (st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime))
        except (OSError, ValueError):
            fields = (0, 0, 0)  # v1 STAT reports a missing file as all zeros
        stream.write(b"STAT" + struct.pack("<3I", *fields))

    def _sync_list(self, stream: _Stream, path: str) -> None:
        out = bytearray()
        try:
            local = self.dev.device_path(path)
            for name in sorted(os.listdir(local)):
                st = os.lstat(local / name)
                raw = name.encode()
                out += b"DENT" + struct.pack("<4I", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(raw)) + raw
        except (OSError, ValueError):
            pass
        stream.write(bytes(out) + b"DONE" + bytes(16))

    def _sync_recv(self, stream: _Stream, path: str) -> None:
        try:
            with open(self.dev.device_path(path), "rb") as f:
                while chunk := f.read(SYNC_DATA_MAX):
                    if not stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk):
                        return
        except (OSError, ValueError) as e:
            self._sync_fail(stream, f"open failed: {getattr(e, 'strerror', None) or e}")
            return
        stream.write(b"DONE" + bytes(4))

    def _sync_send(self, stream: _Stream, spec: str) -> bool:
        """SEND "path,mode", then DATA chunks, then DONE(mtime); answer OKAY or FAIL at the end."""
        dev = self.dev
        path, comma, mode_text = spec.rpartition(",")
        if not comma:
            path, mode_text = spec, "420"  # 0o644
        error, f, local = None, None, None
        if dev._fail_pushes:
            error = "couldn't create file: Permission denied (injected failure)"
        elif not path.startswith(WRITABLE_ROOTS) or ".." in path.split("/"):
            error = "couldn't create file: Read-only file system"
        else:
            try:
                local = dev.device_path(path)
                local.parent.mkdir(parents=True, exist_ok=True)
                f = open(local, "wb")
            except OSError as e:
                error = f"couldn't create file: {e.strerror}"
        try:
            while True:  # like adbd, keep consuming the upload even after an error
                header = stream.read_exact(8)
                if header is None:
                    return False
                sid, length = struct.unpack("<4sI", header)
                if sid == b"DONE":
                    mtime = length
                    break
                if sid != b"DATA" or length > SYNC_DATA_MAX:
                    self._sync_fail(stream, "invalid data message")
                    return False
                chunk = stream.read_exact(length)
                if chunk is None:
                    return False
                if f is not None and error is None:
                    kept = chunk if dev._free_bytes is None else chunk[:dev._free_bytes]
                    f.write(kept)
                    if dev._free_bytes is not None:
                        dev._free_bytes -= len(kept)
                    if len(kept) < len(chunk):
                        error = "write failed: No space left on device"  # adbd's SendSyncFailErrno text
        finally:
            if f is not None:
                f.close()
        if error is None:
            # /sdcard is FUSE (sdcardfs before): it ignores the mode, and it is mounted noexec
            try:
                os.chmod(local, 0o660 if path.startswith("/sdcard/") else int(mode_text) & 0o7777)
                os.utime(local, (mtime, mtime))
            except (OSError, ValueError) as e:
                error = f"couldn't set attributes: {e}"
        if error:
            self._sync_fail(stream, error)
        else:
            stream.write(b"OKAY" + bytes(4))
        return True


class AdbDeviceDouble:
    """A fake phone reachable over ADB/TCP at `address`; use as a context manager.

    Beyond the basics: `require_auth` sends AUTH TOKEN and accepts a SIGNATURE by
    `public_key` (adbkey.pub text) or, unless `accept_new_keys=False`, any RSAPUBLICKEY
    (the user tapping "Allow"); `props` adds/overrides getprop values; `received` logs
    every packet from hosts; `reboot_log`/`taskset_log`/`fixed_performance_log` are the stubs'
    evidence files. The state setters (set_temps, set_cur_freq, set_battery_level,
    set_thermal_status, set_run_freq, set_free_space) need a started double.

    `accept_new_keys=None` leaves the "Allow USB debugging?" dialog open: the host hears nothing
    (an adb server lists the phone as unauthorized). `max_hosts=1` makes it a phone only one host
    program can hold, like a USB phone an adb server has: later connections are reset.
    What the phone supports: `fixed_performance` (default: Android 11+), `thermal_service`
    (`dumpsys thermalservice`), `cpufreq_stats` (stats/time_in_state), `pinning_works` (False: a
    taskset that runs the command without pinning it), `allowed_cpus` (the shell's cpuset).
    """

    host = "127.0.0.1"

    def __init__(self, *, model="Pixel 3", soc="sdm845", abi="arm64-v8a", android="12", serial="DOUBLE01",
                 max_freqs_khz=(1766400,) * 4 + (2803200,) * 4, temps_mc=(35000, 36000), battery_level=80,
                 require_auth=False, public_key: str | None = None, accept_new_keys: bool | None = True,
                 props: Mapping[str, str] | None = None, port: int = 0, max_hosts: int | None = None,
                 fixed_performance: bool | None = None, thermal_service: bool = True, cpufreq_stats: bool = True,
                 pinning_works: bool = True, allowed_cpus: Sequence[int] | None = None):
        self.model, self.soc, self.abi, self.android, self.serial = model, soc, abi, android, serial
        self.max_freqs_khz = tuple(max_freqs_khz)
        self._initial_temps = temps_mc
        self._battery_level = battery_level
        self.require_auth = require_auth
        self.accept_new_keys = accept_new_keys
        self.max_hosts = max_hosts
        sdk = _SDK_BY_RELEASE.get(str(android), 31)
        self.fixed_performance = sdk >= 30 if fixed_performance is None else fixed_performance
        self.thermal_service, self.cpufreq_stats = thermal_service, cpufreq_stats
        self.pinning_works, self.allowed_cpus = pinning_works, allowed_cpus
        self._trusted_keys = [_parse_adb_pubkey(public_key)] if public_key else []
        product = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")
        self.props = {
            "ro.product.model": model,
            "ro.product.name": product,
            "ro.product.device": product,
            "ro.product.manufacturer": "Google" if model.startswith("Pixel") else "Generic",
            "ro.board.platform": soc,
            "ro.soc.model": soc.upper(),  # Android 12+ reports e.g. "SDM845" here
            "ro.product.cpu.abi": abi,
            "ro.build.version.release": android,
            "ro.build.version.sdk": str(sdk),
            "ro.product.cpu.abilist": abi + (",armeabi-v7a,armeabi" if abi == "arm64-v8a" else ""),
            "ro.soc.manufacturer": "QTI" if soc.startswith(("sdm", "sm")) else "Generic",
            "ro.build.fingerprint": f"google/{product}/{product}:{android}/SP1A.210812.016/7679548:user/release-keys",
            "ro.serialno": serial,
            **(props or {}),
        }
        self.banner = (f"device::ro.product.name={self.props['ro.product.name']};ro.product.model={model};"
                       f"ro.product.device={self.props['ro.product.device']};features={FEATURES}")
        self._port_wanted = port
        self.port = 0
        self.shell_commands: list[str] = []
        self.received: list[str] = []  # one line per packet from any host, for debugging/reporting
        self._lock = threading.Lock()
        self._conns: set[_Conn] = set()
        self._shell_budget: int | None = None
        self._dead = False
        self._stopping = False
        self._fail_pushes = False
        self._free_bytes: int | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> "AdbDeviceDouble":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="adb-double-")
        self.sandbox = Path(self._tmp.name).resolve()
        self._populate()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((self.host, self._port_wanted))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        # A socketpair wakes the accept loop: closing a socket another thread is blocked on is unreliable.
        self._wake_r, self._wake_w = socket.socketpair()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="adb-double-accept", daemon=True)
        self._accept_thread.start()

    def stop(self) -> None:
        if self._accept_thread is None:
            return
        self._stopping = True
        self._wake()
        self._accept_thread.join()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                # SHUT_RD wakes the reader's recv without telling the host anything; the
                # reader's close then sends an RST (linger 0), so a client blocked on a read
                # fails at once instead of polling a half-closed socket until its timeout.
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        for conn in conns:
            conn.reader.join()
        self._wake_r.close()
        self._wake_w.close()
        self._accept_thread = None
        self._tmp.cleanup()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _accept_loop(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self._listener, self._wake_r], [], [])
                if self._wake_r in ready or self._stopping or self._dead:
                    break
                try:
                    sock, _ = self._listener.accept()
                except OSError:  # e.g. the host gave up before we accepted
                    continue
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self._lock:
                    full = self.max_hosts is not None and len(self._conns) >= self.max_hosts
                if full:  # like a USB phone another program holds: nobody else gets through
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.close()
                    continue
                conn = _Conn(self, sock)
                with self._lock:
                    self._conns.add(conn)
                conn.reader.start()
        finally:
            self._listener.close()  # from now on connecting gets ECONNREFUSED

    def _forget(self, conn: _Conn) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _record(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        shown = data if len(data) <= 200 else data[:200] + b"..."
        self.received.append(f"{_NAMES[cmd]} {arg0:#x} {arg1:#x} {shown!r}")

    # ---- fault injection and device state ---------------------------------------------

    def disconnect_after(self, n_shell_commands: int) -> None:
        """After n more shell commands complete: refuse new connections and reset existing
        ones at their next request (TCP RST, so the host sees a connection error at once)."""
        with self._lock:
            self._shell_budget = n_shell_commands
        if n_shell_commands <= 0:
            self._go_dead()

    def _count_shell(self, command: str) -> bool:
        """Record a shell command; False if the disconnect budget is already spent."""
        with self._lock:
            if self._shell_budget is not None:
                if self._shell_budget <= 0:
                    return False
                self._shell_budget -= 1
        self.shell_commands.append(command)
        return True

    def _shell_done(self) -> None:
        with self._lock:
            spent = self._shell_budget == 0
        if spent:
            self._go_dead()

    def _go_dead(self) -> None:
        self._dead = True
        self._wake()

    def fail_pushes(self, flag: bool = True) -> None:
        self._fail_pushes = flag

    def device_path(self, device_path: str) -> Path:
        if not device_path.startswith("/"):
            raise ValueError(f"not an absolute device path: {device_path!r}")
        return self.sandbox / posixpath.normpath(device_path).lstrip("/")

    @property
    def reboot_log(self) -> Path:
        return self.sandbox / "REBOOTED"

    @property
    def taskset_log(self) -> Path:
        return self.sandbox / "TASKSET_LOG"

    def set_temps(self, temps_mc) -> None:
        """temps_mc: sequence of milli-degrees C (types from a default list) or {type: milli-degrees}."""
        items = list(temps_mc.items()) if isinstance(temps_mc, Mapping) else [
            (_THERMAL_TYPES[i] if i < len(_THERMAL_TYPES) else f"tz{i}", t) for i, t in enumerate(temps_mc)]
        thermal = self.sandbox / "sys/class/thermal"
        for old in thermal.glob("thermal_zone*"):
            if int(old.name[len("thermal_zone"):]) >= len(items):
                for f in old.iterdir():
                    f.unlink()
                old.rmdir()
        for i, (kind, temp) in enumerate(items):
            zone = thermal / f"thermal_zone{i}"
            zone.mkdir(parents=True, exist_ok=True)
            (zone / "type").write_text(f"{kind}\n")
            (zone / "temp").write_text(f"{int(temp)}\n")

    def set_cur_freq(self, cpu: int, khz: int) -> None:
        self.device_path(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq").write_text(f"{khz}\n")

    def set_battery_level(self, level: int) -> None:
        (self.sandbox / ".double/battery_level").write_text(f"{level}\n")

    def set_thermal_status(self, status: int) -> None:
        """Android's thermal status as `dumpsys thermalservice` reports it (0 NONE ... 6 SHUTDOWN)."""
        (self.sandbox / ".double/thermal_status").write_text(f"{status}\n")

    def set_run_freq(self, khz: int) -> None:
        """The clock a pinned run books its cpufreq residency at (default: the top clock)."""
        (self.sandbox / ".double/run_khz").write_text(f"{khz}\n")

    def set_free_space(self, n_bytes: int | None) -> None:
        """Storage left for pushes (None: unlimited); a push past it fails with ENOSPC, as adbd's does."""
        self._free_bytes = n_bytes

    @property
    def fixed_performance_log(self) -> Path:
        return self.sandbox / "FIXED_PERFORMANCE_LOG"

    # ---- the sandbox ----------------------------------------------------------------

    def _popen(self, command: str) -> subprocess.Popen | None:
        sandbox = str(self.sandbox)
        rewritten = _DEVICE_PATH_RE.sub(lambda m: sandbox + m.group(1), command)
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([sandbox + "/system/bin", os.path.dirname(sys.executable),
                                       os.environ.get("PATH", "/usr/bin:/bin")])
        # Lets tests/fake_benchmark_model.py import mbv3bench from this checkout.
        env["MBV3BENCH_REPO_ROOT"] = str(Path(__file__).resolve().parents[1])
        with self._lock:
            if self._stopping:
                return None
            # Own session so a kill reaches the whole pipeline, not only /bin/sh.
            return subprocess.Popen(["/bin/sh", "-c", rewritten], cwd=sandbox, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    def _populate(self) -> None:
        root = self.sandbox
        for d in ("data/local/tmp", "sdcard", "system/bin", "proc", ".double"):
            (root / d).mkdir(parents=True, exist_ok=True)
        cpus = len(self.max_freqs_khz)
        cpu_root = root / "sys/devices/system/cpu"
        for i, khz in enumerate(self.max_freqs_khz):
            freq = cpu_root / f"cpu{i}/cpufreq"
            freq.mkdir(parents=True)
            (freq / "cpuinfo_max_freq").write_text(f"{khz}\n")
            (freq / "scaling_cur_freq").write_text(f"{khz}\n")
            (freq / "scaling_governor").write_text("schedutil\n")
            if self.cpufreq_stats:  # a kernel without CONFIG_CPU_FREQ_STAT has no stats/ folder
                (freq / "stats").mkdir()
                (freq / "stats/time_in_state").write_text("".join(f"{f} 1000\n" for f in (khz // 3, 2 * khz // 3, khz)))
        for name in ("possible", "present", "online"):
            (cpu_root / name).write_text(f"0-{cpus - 1}\n")
        self.set_temps(self._initial_temps)
        self.set_battery_level(self._battery_level)
        top = max(self.max_freqs_khz)
        blocks = [f"processor\t: {i}\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 "
                  f"atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x51\n"
                  f"CPU architecture: 8\nCPU variant\t: 0x7\nCPU part\t: {'0x802' if khz == top else '0x803'}\n"
                  f"CPU revision\t: 13\n" for i, khz in enumerate(self.max_freqs_khz)]
        (root / "proc/cpuinfo").write_text("\n".join(blocks) + f"\nHardware\t: {self.soc.upper()}\n")
        for name in ("thermal_status", "run_khz"):
            (root / ".double" / name).write_text("0\n")
        self.set_run_freq(top)
        for name, text in stubs(self).items():
            path = root / "system/bin" / name
            path.write_text(text)
            path.chmod(0o755)
