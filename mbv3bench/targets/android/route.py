"""Which route reaches a phone: through the adb server when one answers and knows it (it holds
every USB phone, and a second USB client would fail), else directly (adb-shell, TCP or USB)."""
from __future__ import annotations

from ...core.errors import UserError
from . import direct, server
from .transport import MODES, NotAuthorized, Transport


def open_transport(serial: str | None, mode: str = "auto") -> Transport:
    """The route to the phone `serial` (None: the only phone there is), chosen by `mode`."""
    if mode not in MODES:
        raise UserError(f"--transport {mode!r} is not allowed; allowed: {', '.join(MODES)}")
    view = server.probe() if mode != "direct" else None
    if mode == "server":
        if view is None:
            raise UserError(f"{server.absent()}; start it with `adb start-server`, or use --transport direct")
        return server.ServerTransport(view, view.choose(serial, required=True))
    if view is not None:
        chosen = view.choose(serial, required=False)
        if chosen:
            return server.ServerTransport(view, chosen)
    try:
        return direct.DirectTransport(serial)
    except NotAuthorized:
        raise
    except UserError as e:
        if mode == "direct":
            raise
        # auto: say why the server was not taken either, so one line explains both routes
        why = server.absent() if view is None else view.not_listed(serial)
        raise UserError(f"{e}; {why}") from None
