"""The slabs of ``dims=3``: which rows each 3-D fit takes, and how overlapping slabs blend."""

from __future__ import annotations

import numpy as np

__all__ = ["slabs", "blend_weights"]


def slabs(n: int, size: int, overlap: int) -> list[list[int]]:
    """The slabs of ``dims=3``: ``n`` rows in runs of ``size`` rows, neighbours sharing
    ``overlap`` rows, the last one ending at the last row. They depend on ``n`` and the two
    keywords only.

    Examples
    --------
    >>> [(s[0], s[-1]) for s in slabs(40, 16, 4)]
    [(0, 15), (12, 27), (24, 39)]
    >>> [(s[0], s[-1]) for s in slabs(20, 16, 4)], slabs(3, 16, 4)
    ([(0, 15), (4, 19)], [[0, 1, 2]])
    """
    if n <= size:
        return [list(range(n))]
    step = size - overlap
    starts = list(range(0, n - size, step)) + [n - size]
    return [list(range(a, a + size)) for a in starts]


def blend_weights(idx: list[int], n: int, overlap: int) -> np.ndarray:
    """Weights of a slab's rows ``idx`` (of ``n``) where slabs overlap: a linear ramp over the
    ``overlap`` rows at each inner edge, 1 elsewhere; overlapping ramps sum to about 1.

    Examples
    --------
    >>> blend_weights(list(range(12, 28)), 40, 4)[:5].round(2).tolist()
    [0.2, 0.4, 0.6, 0.8, 1.0]
    """
    j = np.arange(len(idx), dtype=np.float64)
    w = np.ones(len(idx))
    if overlap > 0 and idx[0] > 0:
        w = np.minimum(w, (j + 1) / (overlap + 1))
    if overlap > 0 and idx[-1] < n - 1:
        w = np.minimum(w, (len(idx) - j) / (overlap + 1))
    return w
