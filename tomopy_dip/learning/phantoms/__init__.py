"""Synthetic phantoms: the training data of Educated DIP, and the Shepp-Logan test image.

Two 2D families (:data:`PHANTOM_FAMILIES`, drawn by :func:`random_phantom`):

* ``"ellipses"``: EDIP's random ellipses (and, in 3D, ellipsoids), the distribution of EDIP
  (Barbano, Leuschner et al. 2022) and dival's ``EllipsesDataset``
  (:mod:`tomopy_dip.learning.phantoms.ellipses`, parameters :data:`DISTRIBUTIONS`);
* ``"holed_discs"``: discs of one material with holes, imitating objects such as the HTC 2022
  phantoms (:mod:`tomopy_dip.learning.phantoms.holed_disc`, parameters :data:`HOLED_DISC`).
  It is not EDIP's distribution; :func:`tomopy_dip.pretrain` uses it only when asked
  (``phantoms="holed_discs"``).

and, not synthetic, an :class:`ImageFamily`: given images (e.g. reconstructions of a scan's other
rows) rotated and mirrored (:mod:`tomopy_dip.learning.phantoms.images`), which every function
taking a ``family`` accepts in place of a name.

:func:`shepp_logan` is the fixed test image of the examples, tests and demos.

Generation is deterministic per seed: ``random_ellipses(128, seed=7)`` is the same image on every
machine (NumPy's PCG64), and :func:`sample_rng` turns ``(seed, stream, index)`` into an
independent generator, so that a training sample can be re-created from its index alone (the
pretraining data stream is resumable without storing any random state). Each shape is drawn
inside its bounding box only, so a 128² image takes about a millisecond and a 512² one a few.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from tomopy_dip.learning.phantoms.ellipses import (
    DISTRIBUTIONS, ellipse_parameters, random_ellipses, random_ellipsoid_slab, random_ellipsoids, rasterize,
)
from tomopy_dip.learning.phantoms.holed_disc import HOLED_DISC, random_holed_disc
from tomopy_dip.learning.phantoms.images import ImageFamily
from tomopy_dip.learning.phantoms.sampling import STREAMS, sample_rng
from tomopy_dip.learning.phantoms._shepp_logan import shepp_logan

__all__ = [
    "ellipse_parameters", "rasterize", "random_ellipses", "random_ellipsoids", "random_ellipsoid_slab",
    "random_phantom",
    "ellipses_batch", "sample_rng", "DISTRIBUTIONS", "random_holed_disc", "PHANTOM_FAMILIES",
    "family_parameters", "HOLED_DISC", "STREAMS", "shepp_logan", "ImageFamily", "PHANTOM_KINDS",
]

#: Synthetic phantom families: name -> 2D generator (3D: ellipsoids only).
PHANTOM_FAMILIES = {"ellipses": random_ellipses, "holed_discs": random_holed_disc}

#: What pretraining's ``phantoms`` may name: the synthetic families and given images.
PHANTOM_KINDS = (*PHANTOM_FAMILIES, ImageFamily.name)


def family_parameters(family: str | ImageFamily, dims: int = 2) -> dict:
    """The parameters that define ``family``'s ``dims``-D distribution (a copy, JSON-ready).

    Pretraining records them in a checkpoint's metadata and in its run signature, so that a run
    is not resumed after the distribution changed.

    Examples
    --------
    >>> family_parameters("ellipses")["mean_count"], family_parameters("holed_discs")["holes"]
    (40, [3, 16])
    """
    if isinstance(family, ImageFamily):
        if dims != 2:
            raise ValueError("an ImageFamily is 2D only; 3D phantoms are ellipsoids")
        return family.parameters()
    if family not in PHANTOM_FAMILIES:
        raise ValueError(f"family must be one of {tuple(PHANTOM_FAMILIES)}, got {family!r}")
    if dims == 3 and family != "ellipses":
        raise ValueError(f"family {family!r} is 2D only; 3D phantoms are ellipsoids")
    params = DISTRIBUTIONS[dims] if family == "ellipses" else HOLED_DISC
    return json.loads(json.dumps(params))


def random_phantom(shape: Sequence[int], seed: int | np.random.Generator | None = None,
                   family: str | ImageFamily = "ellipses") -> np.ndarray:
    """A phantom of ``family`` (:data:`PHANTOM_FAMILIES`, or an :class:`ImageFamily`) for a 2-D
    ``shape``; for a 3-D one ``(rows, nx, ny)`` a slab of a random-ellipsoid volume
    (:func:`random_ellipsoid_slab`, ``family="ellipses"`` only)."""
    shape = tuple(shape)
    if isinstance(family, ImageFamily):
        if len(shape) != 2:
            raise ValueError(f"an ImageFamily gives 2D phantoms, asked for shape {shape!r}")
        return family(shape, seed)
    if family not in PHANTOM_FAMILIES:
        raise ValueError(f"family must be one of {tuple(PHANTOM_FAMILIES)}, got {family!r}")
    if len(shape) == 2:
        return PHANTOM_FAMILIES[family](shape, seed)
    if len(shape) == 3 and family != "ellipses":
        raise ValueError(f"family {family!r} is 2D only; 3D phantoms are ellipsoids")
    if len(shape) == 3:
        return random_ellipsoid_slab(shape, seed)
    raise ValueError(f"shape must have 2 or 3 entries, got {shape!r}")


def ellipses_batch(shape: Sequence[int], seed: int, indices: Sequence[int],
                   stream: int | str = "train", family: str | ImageFamily = "ellipses") -> np.ndarray:
    """Phantoms number ``indices`` of the stream ``(seed, stream)``, stacked: ``(B, *shape)``.

    Sample ``i`` depends on ``(seed, stream, i)`` only, not on the other indices requested.
    """
    return np.stack([random_phantom(shape, sample_rng(seed, i, stream), family) for i in indices])

