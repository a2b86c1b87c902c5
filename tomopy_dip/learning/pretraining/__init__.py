"""Supervised pretraining of the U-Net for Educated DIP (EDIP stage 1).

:func:`pretrain` trains ``f(FBP(y) / s) ~ x / s`` on synthetic phantoms ``x``
(:mod:`tomopy_dip.learning.phantoms`: EDIP's random ellipses by default, or holed discs) measured in the
target geometry, ``y = A x + noise * mean(|A x|) * N(0, 1)`` (EDIP's "5 %" noise for
``noise=0.05``; a pair draws the level per sample), where ``s`` is the 99.9th percentile of
``|FBP(y)|`` of that sample: exactly the normalisation the fitting engine applies to real data
(:mod:`tomopy_dip.fitting.engine`), with the same FBP filter. The network thus works at unit scale,
whatever the data units, and its output is what the engine expects at iteration 0 of EDIP.
With ``level`` the scale is instead drawn per sample so that the target's maximum is spread over
a range, which keeps the network from learning one typical intensity level (see
:func:`simulate_pairs`).

Recipe (EDIP's): MSE loss, Adam with weight decay, a one-cycle learning-rate schedule (PyTorch's
``OneCycleLR``, peak ``lr_max``), validation PSNR on a fixed set of held-out phantoms, the best
network (by validation PSNR) kept as the output file, periodic checkpoints besides it. Training
samples are never repeated: sample ``i`` is drawn from its own seed ``(seed, i)``, so the data
stream has no state to store and a resumed run sees exactly the samples it would have seen.

Resuming: the file ``<out stem>.state`` holds the weights, Adam's moments, the schedule, the
step and the best PSNR so far (a torch file read with ``weights_only=True``). It is written at
every validation, every periodic checkpoint, every few minutes, on Ctrl-C and at the end; calling
:func:`pretrain` again with the same arguments continues from it (``resume=True``), and the
result is the same as an uninterrupted run. The first Ctrl-C finishes the current step, saves
and raises :class:`KeyboardInterrupt`; a second one aborts at once.

Several view counts: ``views=[20, 30, ..., 720]`` trains one network for all of them, each
batch drawn with one view count chosen at random (angles evenly spaced over the arc of
``theta``), validation cycling through them.

The settings of :func:`pretrain` are one schema, :data:`PRETRAIN_KEYWORDS`
(:mod:`tomopy_dip.learning.pretraining.settings`): defaults, checks, help and the options of the
command line ``tomopy-dip pretrain`` (:mod:`tomopy_dip.cli.pretrain`).
"""

from __future__ import annotations

from tomopy_dip.learning.pretraining.data import simulate_pairs, view_geometry
from tomopy_dip.learning.pretraining.run import PHANTOM_DESCRIPTIONS, pretrain
from tomopy_dip.learning.pretraining.settings import PRETRAIN_KEYWORDS, PRETRAIN_NORM_GROUPS, Setting
from tomopy_dip.learning.pretraining.state import state_path

__all__ = ["pretrain", "simulate_pairs", "view_geometry", "state_path", "PRETRAIN_NORM_GROUPS",
           "PHANTOM_DESCRIPTIONS", "PRETRAIN_KEYWORDS", "Setting"]
