"""SIGTERM and SIGHUP stop a command exactly as Ctrl-C does: a KeyboardInterrupt in the main thread,
so one cleanup path serves all three (what finished is stored, every child is killed and reaped,
the interrupted line is printed) and one exit code, 130 (128 + SIGINT) whichever arrived: it
means "stopped early; --resume continues"."""
from __future__ import annotations

import contextlib
import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _ignore_repeat(signum, frame) -> None:
    """A second signal while the first one's cleanup runs: cutting it short would leave children
    (or a phone's fixed performance mode) behind. A handler, not SIG_IGN, which children would inherit."""


def _interrupt(signum, frame) -> None:
    for s in STOP_SIGNALS:
        if signal.getsignal(s) is _interrupt:
            signal.signal(s, _ignore_repeat)
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_interrupt():
    """Within: SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt (the first of them; later ones are
    ignored), then the handlers are as before. A signal the process was started ignoring (nohup,
    a background job's SIGINT) stays ignored. Only the main thread can set handlers; elsewhere
    this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(s, _interrupt)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def children_deaf():
    """Processes started within (by this thread) begin with the stop signals blocked, as a signal
    mask survives fork and exec: a signal to the whole process group (a closed terminal's SIGHUP,
    `kill -- -PGID`) then stops only the command, which kills such children itself, rather than
    killing them under it (multiprocessing's resource tracker would be relaunched and print
    tracebacks). Only for children that are always killed by their parent."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
