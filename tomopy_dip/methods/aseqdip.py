"""aSeqDIP: autoencoding sequential DIP (Alkhouri, Liang et al., NeurIPS 2024).

``z_0 = FBP(y)``; for ``k = 1..K``: ``inner_steps`` (N) Adam steps on
``||A f(z_{k-1}) - y||^2 + ae_weight * ||f(z_{k-1}) - z_{k-1}||^2``, then ``z_k = f(z_{k-1})``
(a forward pass, no gradient); the weights carry over. ``K = num_iter // inner_steps`` and the
output is ``z_K`` (``select="last"``).

Scaling: the data are first brought to unit scale (see :mod:`tomopy_dip.engine`), so ``f(z)``
is an image of values about 1 and ``A`` integrates in pixel units whatever the data's units;
the two terms are then weighed exactly as in the paper, as sums over rays and pixels
(``||A f(z) - y||^2 + ae_weight ||f(z) - z||^2``), so the paper's ``ae_weight = 1`` keeps its
meaning; internally both are divided by ``M N^2`` (rays times squared grid size).
"""

from __future__ import annotations

from .base import Method

__all__ = ["ASEQDIP"]

ASEQDIP = Method(
    name="aseqdip",
    defaults={"network_input": "fbp", "select": "last", "inner_steps": 2, "ae_weight": 1.0,
              "tv_weight": 0.0},
    keywords=("inner_steps", "ae_weight"),
    sequential=True,
    description="autoencoding sequential DIP: input updated from the output every N steps",
)
