"""DIP (Ulyanov et al. 2018; Baguer et al. 2020) and TV-DIP.

A randomly initialised U-Net ``f`` with a fixed random input ``z`` (``0.1 N(0, 1)``) is fitted
to the measurement, ``min ||A f(z) - y||^2 (+ tv_weight * TV(f(z)))``. TV-DIP returns the
iterate of minimum loss and stops when the loss stops improving; DIP, which without a
regulariser goes on to fit the noise, stops and selects by the moving variance of its iterates
(ES-WMV, :data:`DIP_STOPPING`). TV-DIP adds anisotropic total variation, which stabilises DIP on
sparse data and suits piecewise-constant objects.
"""

from __future__ import annotations

from tomopy_dip.methods.base import DEFAULTS_3D, Method

__all__ = ["DIP", "TV_DIP", "DEFAULT_TV_WEIGHT", "DEFAULT_LR", "DIP_STOPPING"]

#: TV-DIP's default gamma (see :mod:`tomopy_dip.fitting.losses` for the normalisation).
DEFAULT_TV_WEIGHT = 1e-6

#: DIP's and TV-DIP's default learning rate. Measured on HTC (``benchmarks/HISTORY.md``,
#: "HTC-20 at 256²"): at 20 views, 128², 2000 iterations of TV-DIP on ``tb``, 3e-3 gave 30.1 dB
#: against 24.3 with 1e-3, and at 60 views the same or better images (``ta`` at 128²: 37.3 vs
#: 37.2 dB); the minimum-loss selection absorbs its noisier late iterates.
DEFAULT_LR = 3e-3

#: DIP's stopping and selection: ES-WMV (Wang et al., TMLR 2023) with its own choice of image,
#: the mean of the ``stop_window`` iterates of least moving variance. Without a regulariser DIP's
#: loss keeps falling as it fits the noise, so the loss plateau never comes and the
#: minimum-loss image is the last, overfitted one. Measured on the five HTC training phantoms
#: at 128², 20 views, runs of 4000 iterations replayed (``benchmarks/stopping.py``, returned
#: image − the run's best iterate, median / worst): plateau + minimum loss −4.27 / −6.79 dB
#: (median 28.17 dB returned); this rule −0.17 / −0.97 dB (33.43 dB; window 25, patience 1000,
#: 12 709 iterations in all against 15 145; patience 500 stopped before the slow riser ``tb``
#: peaked, −3.30 dB there). At 60 views (runs of 3000) it gives up nothing: −0.08 / −0.17 dB
#: (plateau + minimum loss between −0.16 / −1.07 and −0.14 / −0.19 dB at patience 500 and 1000).
DIP_STOPPING = {"stop": "variance", "select": "variance", "stop_window": 25, "stop_patience": 1000}

DIP = Method(
    name="dip",
    defaults={"tv_weight": 0.0, "network_input": "noise", "lr": DEFAULT_LR, **DIP_STOPPING},
    # 3-D: ES-WMV's window of least variance came early (27.7 dB, under the FBP, on the slab of
    # benchmarks/slab3d.py, where the run rose to 31.0 dB): TV-DIP's rules there
    defaults_3d={**DEFAULTS_3D, "stop": "plateau", "select": "min_loss"},
    description="Deep Image Prior: U-Net on a noise input fitted to the data",
)

TV_DIP = Method(
    name="tv_dip",
    defaults={"tv_weight": DEFAULT_TV_WEIGHT, "network_input": "noise", "lr": DEFAULT_LR},
    defaults_3d=DEFAULTS_3D,
    description="DIP with a total-variation penalty",
)
