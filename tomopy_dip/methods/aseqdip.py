"""aSeqDIP: autoencoding sequential DIP (Alkhouri, Liang et al., NeurIPS 2024).

``z_0 = FBP(y)``; for ``k = 1..K``: ``inner_steps`` (N) Adam steps on
``||A f(z_{k-1}) - y||^2 + ae_weight * ||f(z_{k-1}) - z_{k-1}||^2``, then ``z_k = f(z_{k-1})``
(a forward pass, no gradient); the weights carry over. ``K = num_iter // inner_steps`` and the
output is ``z_K`` (``select="last"``).

Scaling: both terms are mean squared errors in image units at unit data scale (the data term
divides ray sums by the grid size, see :mod:`tomopy_dip.engine`), so the paper's
``ae_weight = 1`` weighs a pixel's deviation from its input as much as a ray's (length-normalised)
misfit, whatever the data units, number of views and image size.
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
