"""Artifacts exported ahead of measuring, several at once in fresh processes: converting one
network to TFLite takes ~15 s of one core, so a grid of a few dozen cells spends most of its time
here, and measuring then finds each file in the cache. Nothing is measured while this runs, so the
parallel exports never disturb a measurement."""
from __future__ import annotations

from typing import Callable

from ..core.errors import UserError
from ..core.interrupts import children_deaf
from .artifacts import get_artifact, in_cache

PR_SET_PDEATHSIG = 1   # linux/prctl.h


def export_all(items: list[tuple[str, str]], jobs: int, on_done: Callable[[str, str], None] = lambda v, f: None,
               *, rebuild: bool = False) -> None:
    """Every (variant, format)'s artifact exported (or found in the cache, unless `rebuild`), `jobs`
    at a time; `on_done(variant, format)` as each is ready. torch cells have no file."""
    items = list(dict.fromkeys((v, f) for v, f in items if f != "torch"))
    # a cached file is checked here: a pool's processes would each import torch to find it
    cached = [(v, f) for v, f in items if not rebuild and in_cache(v, f)]
    for v, f in cached:
        get_artifact(v, f)
        on_done(v, f)
    items = [x for x in items if x not in cached]
    if jobs <= 1 or len(items) <= 1:
        for v, f in items:
            get_artifact(v, f, rebuild=rebuild)
            on_done(v, f)
        return
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = None
    try:
        with children_deaf():   # the workers start in submit()
            # spawn: a fork would copy whatever torch and the runtimes hold in this process
            pool = ProcessPoolExecutor(min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_worker_start, initargs=(os.getpid(),))
            futures = {pool.submit(_export_one, v, f, rebuild): (v, f) for v, f in items}
        for future in as_completed(futures):
            try:
                future.result()
            except BrokenProcessPool:
                raise UserError(f"an export process died (killed: out of memory?); exports finished so far are "
                                f"cached; try a smaller --export-jobs than {jobs}") from None
            on_done(*futures[future])
    except BaseException:
        # shutdown() alone waits for the exports under way (~650 MB and seconds to minutes each);
        # the pool has no public way to stop them
        for process in list((pool and pool._processes or {}).values()):
            process.kill()
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)   # joins (reaps) every worker


def _worker_start(parent: int) -> None:
    """An export worker dies with the process that started it, even one killed by SIGKILL, which
    cannot kill it first (Linux: PR_SET_PDEATHSIG)."""
    import ctypes
    import os
    import signal

    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:   # it died before the line above
        os._exit(1)


def _export_one(variant: str, fmt: str, rebuild: bool) -> str:
    return str(get_artifact(variant, fmt, rebuild=rebuild).path)
