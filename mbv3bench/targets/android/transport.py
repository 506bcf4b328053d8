"""How the host reaches a phone: through a running adb server (android/server.py, the way most
users have their phones) or directly over adb-shell (android/direct.py, TCP or USB, when no server
runs). Both give one small interface, so AdbTarget never knows which it has.

`auto` (the default) takes the server when one answers and knows the phone, else goes direct.
"""
from __future__ import annotations

from pathlib import Path

from ...core.errors import UserError

MODES = ("auto", "server", "direct")
RC = "__MBV3_RC="


class LinkLost(Exception):
    """The link to the phone failed (as opposed to a command on the phone)."""


class LinkTimeout(LinkLost):
    """The phone did not answer in time; a silent phone and a hung command look the same from here."""


class PushFailed(Exception):
    """The phone refused a file; the message is the phone's own (e.g. "No space left on device")."""


class PullFailed(Exception):
    """The phone would not give a file; the message is the phone's own (e.g. "No such file or directory")."""


class NotAuthorized(UserError):
    """The phone was reached but has not accepted the key: the route is right, the user must tap Allow."""


class Transport:
    """One phone over one route. Methods raise LinkLost / LinkTimeout when the link fails and
    PushFailed (PullFailed) when the phone refuses a file, whatever library speaks the protocol underneath."""

    kind = "?"        # "server" or "direct"
    serial = "?"      # how the phone is named: as `adb devices` prints it, HOST:PORT, or a USB serial
    route = "?"       # for messages and evidence, e.g. "adb server 1.0.41 on 127.0.0.1:5037"

    def shell(self, command: str, timeout: float) -> tuple[int | None, str]:
        """(exit status, output with stderr) of `command`; status None if the output lost its end.
        The v1 shell (all that adb-shell speaks, and what many phones offer the server) has no exit
        status, so the command reports its own."""
        out = self._exec(f"{{ {command}; }} 2>&1; echo {RC}$?", timeout)
        body, _, rc = out.rstrip("\n").rpartition(RC)
        return (int(rc), body) if rc.isdigit() else (None, out)

    def _exec(self, command: str, timeout: float) -> str:
        raise NotImplementedError

    def push(self, local: Path, remote: str, timeout: float) -> None:
        raise NotImplementedError

    def pull(self, remote: str, local: Path, timeout: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
