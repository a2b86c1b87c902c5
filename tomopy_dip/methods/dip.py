"""DIP (Ulyanov et al. 2018; Baguer et al. 2020) and TV-DIP.

A randomly initialised U-Net ``f`` with a fixed random input ``z`` (``0.1 N(0, 1)``) is fitted
to the measurement, ``min ||A f(z) - y||^2 (+ tv_weight * TV(f(z)))``, and the iterate of
minimum loss is returned. TV-DIP adds anisotropic total variation, which stabilises DIP on
sparse data and suits piecewise-constant objects.
"""

from __future__ import annotations

from tomopy_dip.methods.base import Method

__all__ = ["DIP", "TV_DIP", "DEFAULT_TV_WEIGHT", "DEFAULT_LR"]

#: TV-DIP's default gamma (see :mod:`tomopy_dip.fitting.losses` for the normalisation).
DEFAULT_TV_WEIGHT = 1e-6

#: DIP's and TV-DIP's default learning rate. Measured on HTC (benchmarks/README.md): 3e-3
#: converges several times faster than 1e-3 at 20 views (128², 2000 iterations: 30.1 vs
#: 24.3 dB) and returns the same image at 60 views (37.3 vs 37.2 dB); the minimum-loss
#: selection absorbs its noisier late iterates.
DEFAULT_LR = 3e-3

DIP = Method(
    name="dip",
    defaults={"tv_weight": 0.0, "network_input": "noise", "lr": DEFAULT_LR},
    description="Deep Image Prior: U-Net on a noise input fitted to the data",
)

TV_DIP = Method(
    name="tv_dip",
    defaults={"tv_weight": DEFAULT_TV_WEIGHT, "network_input": "noise", "lr": DEFAULT_LR},
    description="DIP with a total-variation penalty",
)
