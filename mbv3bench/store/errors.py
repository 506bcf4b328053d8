"""How a store failure is said: one line naming the store and the failure's real cause, the same
words whichever backend found it (each backend only maps its own error codes to a cause)."""
from __future__ import annotations

import os

from ..core.errors import UserError, shown

BUSY_TIMEOUT_S = 30.0          # how long a write waits for another process's transaction
TIMEOUT_ENV = "MBV3BENCH_DB_TIMEOUT"


class StoreError(UserError):
    """The store cannot do what was asked (read-only, full, locked, permission denied, damaged,
    unreachable, connection lost): one line saying which, by the error's real cause."""


def busy_timeout() -> float:
    """Seconds a store waits for another process's write ($MBV3BENCH_DB_TIMEOUT, default 30)."""
    text = os.environ.get(TIMEOUT_ENV)
    if text is None:
        return BUSY_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise UserError(f"${TIMEOUT_ENV} is {shown(text)}; allowed: seconds from 0 to 86400")
    return value


def failure(address, cause: str | None, detail: str, *, timeout: float = BUSY_TIMEOUT_S,
            read_only_fs: bool = False) -> StoreError:
    """The line for a failure of the store at ADDRESS (shown without its password) of CAUSE."""
    if cause == "read-only":
        where = ("is on a read-only filesystem" if read_only_fs else "is read-only (or its folder is)"
                 if address.file is not None else "is read-only for this user or server")
        return StoreError(f"results store {address} {where} ({detail}); reading commands still read it; "
                          "pass --db a writable store to store results")
    if cause == "full":
        return StoreError(f"results store {address}: the disk is full ({detail}); free space or pass --db a "
                          + ("file on another disk" if address.file is not None else "store on another server"))
    if cause == "locked":
        return StoreError(f"results store {address} is locked by another process (waited {timeout:g} s, "
                          f"${TIMEOUT_ENV}; {detail}); try again when it finishes")
    if cause == "permission":
        return StoreError(f"results store {address}: permission denied ({detail})")
    if cause == "lost":
        return StoreError(f"lost the connection to results store {address} ({detail}); what was committed "
                          "before stays stored")
    return StoreError(f"cannot use results store {address}: {detail}")
