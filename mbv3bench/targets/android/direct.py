"""The direct route: adb-shell speaks the ADB protocol to the phone's adbd itself, over TCP (a phone
in `adb tcpip` mode) or USB, with our own key. No adb server needed; a running server holds USB
phones, so USB works only without one."""
from __future__ import annotations

import os
from pathlib import Path

from adb_shell import exceptions as adb_exc
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.keygen import keygen
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from ...core.errors import UserError
from .transport import LinkLost, LinkTimeout, NotAuthorized, PullFailed, PushFailed, Transport

DEFAULT_KEY = "~/.config/mbv3bench/adbkey"
CONNECT_TIMEOUT_S = 10
AUTH_TIMEOUT_S = 30       # time for the user to tap "Allow USB debugging" on the phone
USB_HINT = ("USB needs adb-shell's usb extra and libusb: pip install 'mbv3bench[usb]' (and libusb-1.0 from "
            "your OS); or put the phone on TCP (adb tcpip 5555) and pass --serial HOST:5555")
# The link itself failed (as opposed to a command on the device).
LINK_ERRORS = (OSError, adb_exc.TcpTimeoutException, adb_exc.UsbReadFailedError, adb_exc.UsbWriteFailedError,
               adb_exc.InvalidResponseError, adb_exc.InvalidChecksumError, adb_exc.InvalidCommandError,
               adb_exc.AdbConnectionError)
TIMEOUTS = (adb_exc.TcpTimeoutException, adb_exc.AdbTimeoutError)


def key_path() -> Path:
    return Path(os.environ.get("MBV3BENCH_ADB_KEY") or DEFAULT_KEY).expanduser()


def _signer() -> PythonRSASigner:
    """Our ADB key, generated once: the phone asks to trust a key once, so it must not change."""
    path = key_path()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        old = os.umask(0o077)  # the private key must never exist world-readable, not even briefly
        try:
            keygen(str(path))
        finally:
            os.umask(old)
    os.chmod(path, 0o600)
    return PythonRSASigner(Path(f"{path}.pub").read_text(), path.read_text())


def usb_serials() -> list[str]:
    """Serials of the phones on USB; UserError with USB_HINT when USB support is missing."""
    try:
        from adb_shell.transport.usb_transport import UsbTransport
    except ImportError:
        raise UserError(USB_HINT) from None
    try:
        return [t.serial_number for t in UsbTransport.find_all_adb_devices()]
    except Exception as e:  # libusb missing or unusable surfaces as several usb1 error types
        raise UserError(f"cannot list USB devices ({e}); {USB_HINT}") from None


def _device(serial: str | None):
    if serial and ":" in serial:
        host, _, port = serial.rpartition(":")
        if not port.isdigit():
            raise UserError(f"--serial {serial!r}: expected HOST:PORT, e.g. 192.168.1.20:5555")
        return AdbDeviceTcp(host, int(port), default_transport_timeout_s=CONNECT_TIMEOUT_S), "TCP"
    usb_serials()  # the one-line hint when USB support is missing
    from adb_shell.adb_device import AdbDeviceUsb
    try:
        return AdbDeviceUsb(serial=serial, default_transport_timeout_s=CONNECT_TIMEOUT_S), "USB"
    except adb_exc.UsbDeviceNotFoundError:
        raise UserError(f"no phone{' ' + serial if serial else ''} on USB (is USB debugging on? a running "
                        "`adb` server holds USB phones: use it with --transport server, or stop it with "
                        "`adb kill-server`)") from None


class DirectTransport(Transport):
    kind = "direct"

    def __init__(self, serial: str | None):
        self._device, how = _device(serial)
        self.serial = serial or "USB"
        self.route = f"adb-shell over {how}, key {key_path()}"
        offered = []  # adb-shell calls back just before it offers our public key for the user to allow
        try:
            self._device.connect(rsa_keys=[_signer()], auth_timeout_s=AUTH_TIMEOUT_S,
                                 read_timeout_s=CONNECT_TIMEOUT_S, auth_callback=lambda _: offered.append(1))
        except (*LINK_ERRORS, adb_exc.AdbTimeoutError, adb_exc.DeviceAuthError) as e:
            self._device.close()
            if offered or isinstance(e, adb_exc.DeviceAuthError):
                raise NotAuthorized(f"{self.serial} has not authorized our ADB key {key_path()}: accept it on the "
                                "phone's screen (\"Allow USB debugging?\"), then run again") from None
            raise UserError(f"cannot reach the phone at {self.serial} directly: "
                            f"{e or type(e).__name__}") from None

    def _exec(self, command: str, timeout: float) -> str:
        try:
            return self._device.shell(command, transport_timeout_s=timeout, read_timeout_s=timeout,
                                      timeout_s=timeout)
        except TIMEOUTS as e:
            raise LinkTimeout(str(e)) from None
        except LINK_ERRORS as e:
            raise LinkLost(str(e)) from None

    def push(self, local: Path, remote: str, timeout: float) -> None:
        self._sync(PushFailed, self._device.push, str(local), remote, st_mode=0o100755,
                   transport_timeout_s=timeout, read_timeout_s=timeout)

    def pull(self, remote: str, local: Path, timeout: float) -> None:
        self._sync(PullFailed, self._device.pull, remote, str(local), transport_timeout_s=timeout,
                   read_timeout_s=timeout)

    @staticmethod
    def _sync(refused: type[Exception], fn, *args, **kw) -> None:
        """A file transfer; `refused` (with the phone's reason) when the phone says FAIL."""
        try:
            fn(*args, **kw)
        except (adb_exc.PushFailedError, adb_exc.AdbCommandFailureException) as e:
            reason = e.args[0] if e.args else ""  # adb-shell passes the phone's FAIL text on as bytes
            raise refused(bytes(reason).decode("utf-8", "replace") if isinstance(reason, (bytes, bytearray))
                          else str(e)) from None
        except TIMEOUTS as e:
            raise LinkTimeout(str(e)) from None
        except LINK_ERRORS as e:
            raise LinkLost(str(e)) from None

    def close(self) -> None:
        try:
            self._device.close()
        except LINK_ERRORS:
            pass
