"""The unit of a Data Exchange file's angles: degrees by the convention, radians where the file
says so or its values leave no doubt (:func:`theta_unit`)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

__all__ = ["theta_unit", "RADIAN_LIMIT", "RADIAN_MIN_SPAN", "RADIAN_MIN_ANGLES"]

log = logging.getLogger("tomopy_dip.data.exchange")  # the readers' logger: a reader's messages keep one name

#: Angles are taken as radians only when the largest ``|theta|`` and the span are at most this
#: (one turn and a margin, in radians)...
RADIAN_LIMIT = 2 * np.pi + 0.5
#: ... the span is more than this (radians; about 29 degrees: the narrowest scan taken as one) ...
RADIAN_MIN_SPAN = 0.5
#: ... and there are at least this many finite angles.
RADIAN_MIN_ANGLES = 10

_DEGREE_NAMES = {"deg", "degs", "degree", "degrees", "\N{DEGREE SIGN}"}
_RADIAN_NAMES = {"rad", "rads", "radian", "radians"}


def _units_text(units: Any) -> str | None:
    """An HDF5 ``units`` attribute (str, bytes, 1-element array) as lower-case text."""
    if units is None:
        return None
    arr = np.asarray(units)
    if arr.size != 1:
        return repr(units)
    value = arr.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        value = bytes(value).decode("utf-8", "replace")
    return str(value).strip().lower()


def theta_unit(values: Any, units: Any = None, name: str = "exchange/theta") -> tuple[str, str, bool]:
    """The unit of stored angles: degrees (the Data Exchange convention) or radians.

    The rule, in order:

    1. A ``units`` attribute on the dataset decides: ``deg``, ``degree(s)`` or ``rad``,
       ``radian(s)`` (any case). Another value is ignored (with a warning) and rule 2 applies.
    2. Without one, the angles are radians when all of these hold: at least
       :data:`RADIAN_MIN_ANGLES` finite angles, every ``|theta| <= 2 pi + 0.5``
       (:data:`RADIAN_LIMIT`) and a span ``max - min`` in ``(0.5, 2 pi + 0.5]``. Read as
       degrees, such angles would be a scan of fewer than 7 degrees with many projections,
       which no CT scan is, while as radians they are a scan of 29 to 389 degrees.
    3. Otherwise degrees.

    Parameters
    ----------
    values : array_like
        The angles as stored.
    units : str, bytes or array, optional
        The dataset's ``units`` attribute.
    name : str
        The dataset's name, for the note.

    Returns
    -------
    unit : {"degrees", "radians"}
    note : str
        One line saying which unit was used and why.
    guessed : bool
        True when radians were assumed by rule 2 (the caller warns).

    Examples
    --------
    >>> theta_unit(np.linspace(0, 180, 181))[:2]
    ('degrees', "'exchange/theta' read as degrees (span 180 over 181 angles)")
    >>> theta_unit(np.linspace(0, np.pi, 181))[0]
    'radians'
    >>> theta_unit(np.linspace(0, np.pi, 181), units="deg")[0]
    'degrees'
    """
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    text = _units_text(units)
    ignored = ""
    if text in _DEGREE_NAMES:
        return "degrees", f"'{name}' read as degrees (its units attribute says {text!r})", False
    if text in _RADIAN_NAMES:
        return "radians", f"'{name}' read as radians (its units attribute says {text!r})", False
    if text is not None:
        log.warning("'%s' has an unrecognised units attribute %r: ignored", name, text)
        ignored = f"; unrecognised units attribute {text!r} ignored"
    finite = arr[np.isfinite(arr)]
    span = float(np.ptp(finite)) if finite.size else 0.0
    biggest = float(np.max(np.abs(finite))) if finite.size else 0.0
    if (finite.size >= RADIAN_MIN_ANGLES and biggest <= RADIAN_LIMIT
            and RADIAN_MIN_SPAN < span <= RADIAN_LIMIT):
        return "radians", (f"'{name}' looks like radians (span {span:.3g} over {arr.size} angles; as degrees "
                           f"that would be a {span:.3g}-degree scan): used as radians{ignored}"), True
    return "degrees", f"'{name}' read as degrees (span {span:.4g} over {arr.size} angles){ignored}", False
