"""The loop inside one process: every cell loaded side by side, measured in rounds of short blocks.

A round times one block (block_runs invokes) of every cell. The host's speed drifts over seconds
(runtime-notes: 2.6 to 3.9 ms for one model within one process), far more than the effects being
measured (5-10%); blocks a few milliseconds apart see the same speed, so the drift hits every
cell alike and cancels in their ratio. Each round's order is the mirror of the round before
(A B, B A, ...; a fresh shuffle every other round for more cells), so no cell always runs
first, or always right after the same neighbour.
"""
from __future__ import annotations

import itertools
import math
import random
import time
from typing import Callable, Iterator

from .protocol import timed_loop

Invoke = Callable[[], None]


def orders(n: int, seed: int) -> Iterator[list[int]]:
    """Round orders: a permutation, then its mirror, then a new one."""
    rng = random.Random(seed)
    while True:
        perm = rng.sample(range(n), n) if n > 2 else list(range(n))[::(-1) ** seed]
        yield perm
        yield perm[::-1]


def order_of(n: int, index: int) -> list[int]:
    """The order of round `index` where each round is a separate call (a phone's benchmark_model runs)."""
    return next(itertools.islice(orders(n, 0), index, None))


def run_rounds(invokes: list[Invoke], *, block_runs: int, min_rounds: int, min_secs: float, max_secs: float,
               seed: int, on_round: Callable[[int, float, list[int], list[list[float]]], None]) -> int:
    """Rounds until both min_rounds and min_secs are met, stopping at max_secs (after one round at
    least). on_round(index, seconds since the start, order, samples of each cell in cell order)
    runs between rounds, never inside a timed block. Returns the number of rounds."""
    start = time.perf_counter()
    for index, order in enumerate(orders(len(invokes), seed)):
        elapsed = time.perf_counter() - start
        if (index >= min_rounds and elapsed >= min_secs) or (index and elapsed >= max_secs):
            return index
        blocks: list[list[float]] = [[] for _ in invokes]
        for i in order:
            blocks[i] = timed_loop(invokes[i], block_runs)
        on_round(index, elapsed, order, blocks)
    raise AssertionError("orders() never ends")


def warm_up(invokes: list[Invoke], *, runs: int, secs: float, block_runs: int, max_secs: float, seed: int) -> None:
    """Warm-up in rounds too, so that every cell is warm when the first timed round starts."""
    if runs or secs:
        run_rounds(invokes, block_runs=block_runs, min_rounds=math.ceil(runs / block_runs), min_secs=secs,
                   max_secs=max_secs, seed=seed, on_round=lambda *_: None)
