"""The input every measurement and every export check feeds: seeded standard-normal, never zeros."""
from __future__ import annotations

import numpy as np

SEED = 0


def input_array(shape: tuple[int, ...] | list[int], seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(tuple(shape)).astype(np.float32)


def input_shape(res: int | tuple[int, ...]) -> tuple[int, ...]:
    """An image of res x res (NCHW), or a shape given whole (a block's input)."""
    return (1, 3, res, res) if isinstance(res, int) else tuple(res)
