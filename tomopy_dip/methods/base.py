"""What distinguishes one DIP-family method from another.

A :class:`Method` is a declaration read by the fitting engine (:mod:`tomopy_dip.fitting`): its
loss terms, its hooks (which parameters train, how the input changes, a level calibration),
whether its network starts from a checkpoint, its own keywords and its defaults. The selection
rule is the ``select`` keyword (a method's default picks it). Everything else (projector, data
scaling, optimiser, batching, progress, callbacks, Ctrl-C) is shared. The class is defined
beside the engine that reads it (:mod:`tomopy_dip.fitting.method`) and importable from here.
"""

from __future__ import annotations

from tomopy_dip.fitting.method import Method

__all__ = ["Method", "DEFAULTS_3D"]

#: The defaults of the methods with ``dims=3`` that differ from their 2-D ones. A 3-D U-Net
#: rises more slowly and its fits are thrown back by loss spikes every few thousand iterations
#: (:mod:`~tomopy_dip.fitting.backtrack`): the cap is higher, spikes are undone, and the plateau
#: rule waits 1500 iterations for progress (700 in 2-D). Measured by replaying whole 10 000-
#: and 7000-iteration runs (``benchmarks/slab3d.py --record``; benchmarks/README.md, "3-D"):
#: TV-DIP on the simulated 16-slice slab 32.24 dB after 9526 iterations (patience 700: 31.84 dB
#: after 6834; the 2-D per-slice fits 31.52 dB), on the FIPS gel phantom's 17 frames 22.83 dB
#: after 5291 (patience 700: 22.99 after 2582; 2-D per frame 22.49). DIP (with TV-DIP's stopping
#: and selection, see :data:`~tomopy_dip.methods.dip.DIP`) 30.84 dB against 27.68 dB.
DEFAULTS_3D = {"backtrack": 3.0, "num_iter": 10000, "stop_patience": 1500}
