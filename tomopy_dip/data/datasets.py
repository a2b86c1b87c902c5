"""Real measured example datasets: a registry with checksums and loaders.

Each loader returns a dict with ``"sinogram"`` (TomoPy sinogram order, float32, already
log-transformed), ``"theta"`` (radians), ``"center"`` and ``"geometry"`` (the keywords the
algorithms take: ``beam``, ``source_origin``, ... ``num_gridx``, ``num_gridy``), so that
``tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], **d["geometry"])`` works.

Files are fetched through :mod:`tomopy_dip.data.registry` (user cache, checksum, offline mirror
``TOMOPY_DIP_MIRROR``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tomopy_dip.data.registry import RemoteFile, fetch

__all__ = ["DATASETS", "get_path", "load_htc2022", "load_tooth", "load_fips_gel", "HTC_PHANTOMS"]

_HTC_URL = ("https://github.com/EricOldgren/KEX---CT-reconstruction/raw/"
            "cc90019a6325f1b2ec07b471e1d02ade9040a64d/data/HTC2022/TrainingData/")
_FIPS_URL = ("https://github.com/TomographicImaging/CIL-Demos/raw/"
             "eff6661e4ee74aa6f6b4aed6d1e68d792ac1583a/week3/")
_TOOTH_URL = "https://github.com/tomopy/tomopy/raw/2c94ed18/source/tomopy/data/tooth.h5"

HTC_PHANTOMS = ("ta", "tb", "tc", "td", "solid_disc")
_HTC_SHA = {
    "solid_disc": "3841c6a6251365b4a89692379e404825ef11a2ac5d328f825ca6e32ff74addc9",
    "ta": "6147e43df9766427a9db56351e1dc650196f77b0ba5f93277164381dd340f026",
    "tb": "7cbb4aae787ad7a1a1ca7cfedc5ca1c429d320c598f9b3c386155c8c2b9bd395",
    "tc": "2ef40bafe437066a0b7fe3ed87dd937d7592fcfeeccd13a3888e80b2573f59db",
    "td": "b7ad7fcff5c7529295d98f71ce76c7bb3371808b6441d8541b0cd1a28caa4f70",
}
_FIPS_SHA = {
    "data_18.nxs": "99db10f01b3f87fca5954952b8b3a8d5f381ef5e47448564bb6d16a3961c384e",
    "data_36.nxs": "f4c6f6d302bb7188c5eea3589f8707610d621d42cf56f6b027ed5d6b83b5e7f8",
    "data_72.nxs": "d2647c74aae350ca3db24842afb2eb503d9d06645b524b0e3093e50db93f77f9",
    "FBP_pre_scan.nxs": "87c7adf24c0e52ac7dff0949834ad7f40022c9b3447c07b4b61b33f7f4e08dfc",
}

#: The registry: name -> :class:`~tomopy_dip.data.registry.RemoteFile`.
DATASETS: dict[str, RemoteFile] = {}
for _p, _sha in _HTC_SHA.items():
    DATASETS[f"htc2022_{_p}"] = RemoteFile(
        f"htc2022_{_p}", _HTC_URL + f"htc2022_{_p}_full.mat", _sha,
        f"htc2022/TrainingData/htc2022_{_p}_full.mat",
        description=f"HTC 2022 phantom '{_p}': fan beam, 721 views x 560 px (CC BY 4.0, "
                    "Zenodo 10.5281/zenodo.6984868)",
    )
for _f, _sha in _FIPS_SHA.items():
    _sub = "SparseData" if _f.startswith("data") else "FBP_reconstructions"
    DATASETS[f"fips_gel_{_f.split('.')[0].lower()}"] = RemoteFile(
        f"fips_gel_{_f.split('.')[0].lower()}", _FIPS_URL + f"{_sub}/{_f}", _sha,
        f"fips_gel_phantom_cil/{_f}",
        description="FIPS gel phantom (CIL NeXus): fan beam, 17 frames x views x 282 px",
    )
DATASETS["tooth"] = RemoteFile(
    "tooth", _TOOTH_URL, "ab1d9bd073b7fb1beae4defa991c2a2626605c5cf1f4be0d0203656bc47b6489",
    "tomopy_tooth/tooth.h5", 1043312,
    "TomoPy's tooth.h5: APS Data Exchange, parallel beam, 181 x 2 x 640 raw counts",
)


def get_path(name: str, progress: bool = False) -> Path:
    """Local path of dataset ``name`` (fetched on first use)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return fetch(DATASETS[name], progress=progress)


def _views(n_total: int, n_views: int) -> np.ndarray:
    if not 1 <= n_views <= n_total or n_total % n_views:
        raise ValueError(f"n_views must divide {n_total}, got {n_views}")
    return np.arange(0, n_total, n_total // n_views)


def load_htc2022(phantom: str = "ta", n_views: int = 60, size: int = 256,
                 detector_bin: int = 1) -> dict:
    """An HTC 2022 training phantom as in the HTC-60 benchmark protocol.

    Parameters
    ----------
    phantom : {"ta", "tb", "tc", "td", "solid_disc"}
        The phantom.
    n_views : int
        Evenly spaced views taken from the 720 distinct ones (60: every 12th, 0.5° steps).
        720 gives the dense scan.
    size : int
        Image grid ``size x size`` covering the challenge's 512-pixel field of view.
    detector_bin : int
        Average groups of detector pixels (reduced-size tests).

    Returns
    -------
    dict
        ``sinogram`` (n_views, 560 // detector_bin), ``theta``, ``center``, ``geometry``.
    """
    import scipy.io

    if phantom not in HTC_PHANTOMS:
        raise ValueError(f"phantom must be one of {HTC_PHANTOMS}, got {phantom!r}")
    data = scipy.io.loadmat(get_path(f"htc2022_{phantom}"), simplify_cells=True)["CtDataFull"]
    par = data["parameters"]
    sino = np.asarray(data["sinogram"], dtype=np.float64)[:720]
    theta = np.deg2rad(np.asarray(par["angles"], dtype=np.float64)[:720])
    idx = _views(720, n_views)
    ndet = sino.shape[1] // detector_bin
    sino = sino[idx, : ndet * detector_bin].reshape(len(idx), ndet, detector_bin).mean(-1)
    px = 512 / size * float(par["effectivePixelSizePost"])  # mm per image pixel
    so = float(par["distanceSourceOrigin"])
    return {
        "sinogram": sino.astype(np.float32),
        "theta": theta[idx],
        "center": (ndet - 1) / 2.0,
        "geometry": {
            "beam": "fanflat",
            "source_origin": so / px,
            "origin_detector": (float(par["distanceSourceDetector"]) - so) / px,
            "detector_spacing": float(par["pixelSizePost"]) * detector_bin / px,
            "num_gridx": size,
            "num_gridy": size,
        },
    }


def load_tooth() -> dict:
    """TomoPy's tooth: raw projections, flats, darks and angles (Data Exchange layout).

    Returns
    -------
    dict
        ``proj`` (181, 2, 640), ``flat`` (10, 2, 640), ``dark`` (10, 2, 640) float32 and
        ``theta`` in radians; normalise and log before reconstructing.
    """
    import h5py

    with h5py.File(get_path("tooth"), "r") as f:
        return {
            "proj": f["exchange/data"][...].astype(np.float32),
            "flat": f["exchange/data_white"][...].astype(np.float32),
            "dark": f["exchange/data_dark"][...].astype(np.float32),
            "theta": np.deg2rad(f["exchange/theta"][...].astype(np.float64)),
        }


def load_fips_gel(n_views: int = 36, frame: int = 0, size: int = 256) -> dict:
    """FIPS gel phantom, one time frame, plus the dense pre-scan FBP as reference.

    Parameters
    ----------
    n_views : {18, 36, 72}
        Sparse-view subset.
    frame : int
        Time frame 0..16 (frame 0 matches the pre-scan reference).
    size : int
        Grid size: 256, the grid of the dense pre-scan reference (0.1333 mm pixels), or 128 or
        64 (pixels 2 or 4 times larger; the reference is then the mean of 2x2 or 4x4 blocks of
        the 256² one, whose centre sits a quarter or three eighths of a pixel from the grid's
        rotation-axis pixel).

    Returns
    -------
    dict
        ``sinogram``, ``theta``, ``center``, ``geometry`` and ``reference`` (FBP of the dense
        720-view pre-scan, converted to attenuation per image pixel, same orientation).
    """
    import h5py

    if n_views not in (18, 36, 72):
        raise ValueError(f"n_views must be 18, 36 or 72, got {n_views}")
    with h5py.File(get_path(f"fips_gel_data_{n_views}"), "r") as f:
        sino = f["entry1/tomo_entry/data/data"][frame].astype(np.float32)
        theta = np.asarray(f["entry1/tomo_entry/config/angles"][...], dtype=np.float64)
    if size not in (256, 128, 64):
        raise ValueError(f"size must be 256 (the grid of the reference scan), 128 or 64, got {size}")
    with h5py.File(get_path("fips_gel_fbp_pre_scan"), "r") as f:
        ref = f["entry1/tomo_entry/data/data"][...].astype(np.float32)
    block = 256 // size
    ref = ref.reshape(size, block, size, block).mean((1, 3))
    px = 0.133333 * block
    return {
        "sinogram": sino,
        "theta": theta,
        "center": (sino.shape[1] - 1) / 2.0,
        # the reference is in 1/mm; convert to attenuation per image pixel like our results
        "reference": ref * np.float32(px),
        "geometry": {
            "beam": "fanflat", "source_origin": 100.0 / px, "origin_detector": 200.0 / px,
            "detector_spacing": 0.4 / px, "num_gridx": size, "num_gridy": size,
        },
    }
