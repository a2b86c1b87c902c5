"""Deep Image Prior reconstruction algorithms for TomoPy.

Use a method as a TomoPy algorithm::

    rec = tomopy.recon(proj, theta, center=c, algorithm=tomopy_dip.tv_dip, num_iter=1000)

or without TomoPy, with the same arguments::

    rec = tomopy_dip.recon(proj, theta, center=c, algorithm=tomopy_dip.tv_dip, num_iter=1000)

:func:`reconstruct` is the lower-level API that also returns the per-iteration history.

The package's folders follow its architecture: ``physics`` (geometry, projectors, FBP, the
measurement model), ``fitting`` (the loop, loss terms, selection rules, method hooks),
``networks``, ``methods`` (each a declaration), ``learning`` (phantoms, pretraining,
checkpoints), ``data`` (files, pre-processing, datasets, downloads), ``interfaces`` (TomoPy
callables, tomosipo, the demo, plots), ``volume`` (whole scans from a file: settings, plan,
tasks, outputs and resume, seeding) and ``cli`` (the ``tomopy-dip`` command).
"""

from __future__ import annotations

import logging

from tomopy_dip._version import __version__
from tomopy_dip.fitting import interrupt as _interrupt
from tomopy_dip.fitting.engine import Reconstruction, reconstruct
from tomopy_dip.fitting.memory import MemoryPlan, check_memory, estimate_memory
from tomopy_dip.interfaces.tomopy import ALGORITHMS, make_algorithm, recon
from tomopy_dip.volume import reconstruct_file
from tomopy_dip.interfaces.tomosipo import from_tomosipo
from tomopy_dip.learning.pretraining import pretrain
from tomopy_dip.methods import METHODS, Method, register_method
from tomopy_dip.metrics import psnr, ssim
from tomopy_dip.physics.fbp import fbp
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.physics.projector import RayTransform, get_operator

logging.getLogger(__name__).addHandler(logging.NullHandler())

# Ctrl-C during a fit stops every fit and returns what it has (tomopy_dip.fitting.interrupt); the
# handler replaces only Python's default one, from the main thread.
_interrupt.install()

dip = ALGORITHMS["dip"]
tv_dip = ALGORITHMS["tv_dip"]
aseqdip = ALGORITHMS["aseqdip"]
edip = ALGORITHMS["edip"]
edip_fe = ALGORITHMS["edip_fe"]

__all__ = [
    "dip", "tv_dip", "aseqdip", "recon", "reconstruct", "Reconstruction", "Geometry",
    "RayTransform", "get_operator", "fbp", "psnr", "ssim", "make_algorithm", "ALGORITHMS",
    "__version__", "edip", "edip_fe", "pretrain", "Method", "METHODS", "register_method",
    "reconstruct_file", "from_tomosipo", "estimate_memory", "check_memory", "MemoryPlan",
]
