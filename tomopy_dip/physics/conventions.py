"""The beams, their ASTRA projectors, the default rotation centre, and the checks of a
geometry's numbers (:class:`~tomopy_dip.physics.geometry.Geometry` and the options use them).

Examples
--------
>>> DEFAULT_PROJECTOR["fanflat"], default_center(64, "cone")
('line_fanflat', 31.5)
>>> check_grid_size("ndet", 0)
Traceback (most recent call last):
...
ValueError: ndet must be a positive integer, got 0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["BEAMS", "FAN_KEYWORDS", "DEFAULT_PROJECTOR", "PROJECTORS", "DIVERGENT", "default_center",
           "check_center", "check_positive", "check_grid_size"]

BEAMS = ("parallel", "fanflat", "cone")
FAN_KEYWORDS = ("source_origin", "origin_detector", "detector_spacing")

#: ASTRA CPU projector used by default for each beam type.
DEFAULT_PROJECTOR = {"parallel": "linear", "fanflat": "line_fanflat", "cone": "cuda3d"}
PROJECTORS = {"parallel": ("line", "linear", "strip"), "fanflat": ("line_fanflat",),  # ASTRA 2.5: strip_fanflat rejects fanflat_vec
              "cone": ("cuda3d",)}

#: Beams with a source at a finite distance (``source_origin``, ``origin_detector``).
DIVERGENT = ("fanflat", "cone")


def check_positive(name: str, value: Any) -> float:
    """``value`` as a positive finite float (``name`` in the message).

    Raises
    ------
    TypeError
        ``value`` is not a number.
    ValueError
        ``value`` is not finite or not positive.
    """
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(out) or out <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return out


def default_center(ndet: int, beam: str = "parallel") -> float:
    """The rotation centre when none is given: ``ndet / 2`` for parallel beam (TomoPy's
    default), the detector's middle ``(ndet - 1) / 2`` for fan and cone beam.

    Examples
    --------
    >>> default_center(64), default_center(64, "fanflat")
    (32.0, 31.5)
    """
    return (ndet - 1) / 2.0 if beam in DIVERGENT else ndet / 2.0


def check_center(center: Any, ndet: int) -> float:
    """``center`` as a float on the detector, ``-0.5 <= center <= ndet - 0.5``.

    Raises
    ------
    TypeError
        ``center`` is not a number.
    ValueError
        ``center`` is not finite or off the detector.
    """
    try:
        c = float(center)
    except (TypeError, ValueError):
        raise TypeError(f"center must be a number, got {center!r}") from None
    if not math.isfinite(c) or not (-0.5 <= c <= ndet - 0.5):
        raise ValueError(f"center must lie on the detector, between -0.5 and {ndet - 0.5} pixels, got {c:g}")
    return c


def check_grid_size(name: str, value: Any) -> int:
    """``value`` as a positive ``int`` (a grid or detector size; ``name`` in the message).

    Raises
    ------
    TypeError
        ``value`` is not an integer (a bool is none).
    ValueError
        ``value`` is less than 1.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
