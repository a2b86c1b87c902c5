"""Images of the object being scanned as training phantoms: the ``"images"`` family.

EDIP's synthetic families teach a network what tomographic images look like in general; a
volume's slices teach it what *this* object looks like. :class:`ImageFamily` draws phantoms from
a few reconstructions of the scan itself (e.g. every few rows reconstructed at a method's
defaults), each sample one of them rotated by a uniform angle about the grid's centre, mirrored
with probability 1/2 and cut to the inscribed disc, so that pretraining
(:func:`tomopy_dip.pretrain` with ``images=``) measures, noises and reconstructs them in the
scan's own geometry.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from tomopy_dip.learning.phantoms.sampling import _as_rng, _coords

__all__ = ["ImageFamily"]


class ImageFamily:
    """Phantoms drawn from given images: rotated, mirrored, cut to the inscribed disc.

    Parameters
    ----------
    images : array_like
        One image ``(nx, ny)`` or a stack ``(n, nx, ny)``, finite; e.g. reconstructions of other
        rows of the scan, on the grid the network will reconstruct. Copied (what the caller
        passed is not modified); negative values are set to 0 (attenuation is non-negative and
        the network's output too).

    Examples
    --------
    >>> fam = ImageFamily(np.ones((2, 32, 32)))
    >>> img = fam((32, 32), np.random.default_rng(0))
    >>> img.shape, float(img[16, 16]), float(img[0, 0])
    ((32, 32), 1.0, 0.0)
    """

    name = "images"

    def __init__(self, images: Any):
        try:
            arr = np.array(images, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"images must be an array of shape (n, nx, ny) or (nx, ny), "
                             f"got {type(images).__name__}") from None
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[0] < 1 or min(arr.shape[1:]) < 2:
            raise ValueError(f"images must be an array of shape (n, nx, ny) or (nx, ny), got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("images holds non-finite values (NaN or inf)")
        if not (arr > 0).any():
            raise ValueError("images holds no positive value: nothing to learn from")
        self.images = np.ascontiguousarray(np.maximum(arr, 0))
        self.images.setflags(write=False)

    @property
    def shape(self) -> tuple[int, int]:
        """The images' grid ``(nx, ny)``."""
        return tuple(self.images.shape[1:])

    def parameters(self) -> dict:
        """What defines the family (JSON-ready): the images' count, shape and SHA-256, the
        augmentation. A pretraining run records it, and resumes only on the same images."""
        return {"count": int(self.images.shape[0]), "shape": list(self.shape),
                "sha256": hashlib.sha256(self.images.tobytes()).hexdigest(),
                "augmentation": "rotation by U(0, 360) degrees about the grid centre (linear), "
                                "mirror with probability 1/2, inscribed disc"}

    def __call__(self, shape: Sequence[int], seed: int | np.random.Generator | None = None) -> np.ndarray:
        """One phantom of ``shape`` (the images' grid), float32."""
        from scipy.ndimage import rotate

        shape = tuple(int(s) for s in shape)
        if shape != self.shape:
            raise ValueError(f"images are {self.shape[0]} x {self.shape[1]}, the training grid is "
                             f"{shape[0]} x {shape[1]}: give images on the grid the network reconstructs")
        rng = _as_rng(seed)
        img = self.images[int(rng.integers(self.images.shape[0]))]
        angle, mirror = float(rng.uniform(0.0, 360.0)), bool(rng.random() < 0.5)
        if mirror:
            img = img[:, ::-1]
        out = rotate(img, angle, reshape=False, order=1, mode="constant", cval=0.0)
        disc = _coords(shape[0])[:, None] ** 2 + _coords(shape[1])[None, :] ** 2 <= 1.0
        return np.where(disc, np.maximum(out, 0), 0).astype(np.float32)
