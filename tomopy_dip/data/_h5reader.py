"""dxchange's Data Exchange reader written with h5py: what :mod:`tomopy_dip.data.exchange` uses
when the real dxchange is not importable.

It reads the same datasets with the same fallbacks as ``dxchange.read_aps_32id``: flat and dark
values and rotation parameters from ``/process/acquisition/...``, and evenly spaced angles over
180° when the file has none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DATA", "WHITE", "DARK", "THETA", "group", "read_h5py"]

#: Dataset names inside a Data Exchange group.
DATA, WHITE, DARK, THETA = "data", "data_white", "data_dark", "theta"
FLAT_VALUE = "/process/acquisition/flat_fields/flat_field_value"
DARK_VALUE = "/process/acquisition/dark_fields/dark_field_value"
ROTATION = "/process/acquisition/rotation/"


def group(exchange_rank: int) -> str:
    """The HDF5 group of ``exchange_rank``: ``exchange`` (0) or ``exchange{k}``."""
    return "exchange" if not exchange_rank else f"exchange{int(exchange_rank)}"


def _h5_read(f: Any, name: str, slc: tuple | None) -> np.ndarray | None:
    import h5py

    obj = f.get(name)
    if obj is None or not isinstance(obj, h5py.Dataset):
        return None
    if slc is None:
        return obj[()]
    nd = obj.ndim
    slc = tuple(slc[:nd]) + (slice(None),) * max(0, nd - len(slc))
    return obj[slc]


def read_h5py(path: Path, proj: slice, sino: slice, exchange_rank: int) -> tuple:
    """The format of ``dxchange.read_aps_32id`` with h5py, dxchange's fallbacks included."""
    import h5py

    base = group(exchange_rank)
    notes = []
    with h5py.File(path, "r") as f:
        tomo = _h5_read(f, f"{base}/{DATA}", (proj, sino))
        flat = _h5_read(f, f"{base}/{WHITE}", (slice(None), sino))
        dark = _h5_read(f, f"{base}/{DARK}", (slice(None), sino))
        theta = _h5_read(f, f"{base}/{THETA}", None)
        if tomo is None:
            return None, flat, dark, theta, notes
        if flat is None or (flat.ndim and flat.shape[0] == 1 and flat.max() == 0):
            v = _h5_read(f, FLAT_VALUE, None)
            if v is not None:
                flat = tomo[0] * 0 + np.ravel(v)[0]
                notes.append(f"flat fields from {FLAT_VALUE}")
        if dark is None or (dark.ndim and dark.shape[0] == 1 and dark.max() == 0):
            v = _h5_read(f, DARK_VALUE, None)
            if v is not None:
                dark = tomo[0] * 0 + np.ravel(v)[0]
                notes.append(f"dark fields from {DARK_VALUE}")
        if theta is None:
            vals = [_h5_read(f, ROTATION + k, None) for k in ("rotation_start", "rotation_step", "num_angles")]
            if all(v is not None for v in vals):
                start, step, num = (np.ravel(v)[0] for v in vals)
                theta = start + step * np.arange(int(num))
                notes.append(f"angles from {ROTATION}rotation_*")
            else:
                theta = np.linspace(0.0, 180, tomo.shape[0])
                notes.append(f"no '{base}/{THETA}': {tomo.shape[0]} angles generated over [0, 180] degrees")
    return tomo, flat, dark, np.deg2rad(theta), notes
