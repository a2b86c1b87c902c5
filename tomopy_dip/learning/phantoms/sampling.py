"""What every phantom family shares: per-sample generators and the normalised pixel grid.

:func:`sample_rng` turns ``(seed, stream, index)`` into an independent generator, so that a
training sample can be re-created from its index alone. Pixel ``k`` of an ``n``-pixel axis is
centred at ``(k - (n - 1) / 2) / (n / 2)``: the field of view is ``[-1, 1]`` along every axis.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["STREAMS", "sample_rng"]

#: Stream numbers used by :func:`sample_rng` (pretraining: training samples, validation
#: samples and the per-step choice of geometry).
STREAMS = {"train": 0, "validation": 1, "geometry": 2}


def sample_rng(seed: int, index: int, stream: int | str = "train") -> np.random.Generator:
    """An independent generator for sample ``index`` of ``stream`` under ``seed``.

    Parameters
    ----------
    seed : int
        Base seed of the data set.
    index : int
        Sample (or step) number, ``>= 0``.
    stream : int or {"train", "validation", "geometry"}
        Independent sub-streams of the same seed.

    Examples
    --------
    >>> a = sample_rng(0, 5).random(); b = sample_rng(0, 5).random()
    >>> a == b, a == sample_rng(0, 6).random()
    (True, False)
    """
    s = STREAMS[stream] if isinstance(stream, str) else int(stream)
    if int(seed) < 0 or int(index) < 0 or s < 0:
        raise ValueError("seed, index and stream must be non-negative integers")
    return np.random.default_rng(np.random.SeedSequence([int(seed), s, int(index)]))


def _as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _coords(n: int) -> np.ndarray:
    """Normalised pixel-centre coordinates of an axis of ``n`` pixels (field ``[-1, 1]``)."""
    return (np.arange(n) - (n - 1) / 2.0) / (n / 2.0)


def _shape2d(size: int | Sequence[int]) -> tuple[int, int]:
    """``n`` -> ``(n, n)``; a pair as given; anything else a ValueError naming ``size``."""
    shape = (size, size) if np.ndim(size) == 0 else tuple(size)
    if len(shape) != 2:
        raise ValueError(f"size must be an int or a pair of ints, got {size!r}")
    return shape
