#!/usr/bin/env python
"""Example 1: TomoPy's tooth, from the Data Exchange file to gridrec and EDIP side by side.

The classic TomoPy pipeline with a DIP method as one more ``tomopy.recon`` algorithm::

    dxchange.read_aps_32id -> tomopy.normalize -> tomopy.minus_log -> tomopy.find_center
        -> tomopy.recon(algorithm="gridrec")   and   tomopy.recon(algorithm=tomopy_dip.edip)

Every step falls back to tomopy_dip's own equivalent when TomoPy or dxchange is not installed
(``tomopy_dip.data.exchange.read_aps_32id``, ``tomopy_dip.data.preprocess``, ``tomopy_dip.recon`` and, instead
of gridrec, ``tomopy_dip.fbp``), so the script runs with ``pip install tomopy-dip`` alone.
EDIP needs a pretrained checkpoint for this geometry: give one with ``--checkpoint`` (see
``examples/pretrain_own_geometry.py``) or let tomopy_dip choose a registered one; when none
fits, the script says so and uses TV-DIP instead.

Run::

    python examples/tooth_pipeline.py --out tooth-example          # a few minutes on 2 cores
    python examples/tooth_pipeline.py --smoke --out /tmp/smoke     # seconds (CI)

The figure ``tooth_pipeline.png`` shows both slices, gridrec (or FBP) next to the DIP method.
The data come from the dataset registry (``tomopy-dip datasets fetch tooth``; offline: set
``TOMOPY_DIP_MIRROR`` to a directory holding ``tomopy_tooth/tooth.h5``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

import tomopy_dip
from tomopy_dip.data import datasets as datasets
from tomopy_dip.data import exchange as tio
from tomopy_dip.data.files import write_tiff_stack
from tomopy_dip.data import preprocess as pp
from tomopy_dip.interfaces.plotting import display_range

log = logging.getLogger("tooth_pipeline")

try:  # TomoPy is a conda-forge package; everything below also works without it
    import tomopy
except ImportError:
    tomopy = None


def read(fname: Path) -> tuple:
    """Projections, flats, darks and angles (radians) of both rows of the tooth."""
    dxchange = tio._import_dxchange()  # the real dxchange, imported quietly, or None
    if dxchange is not None:
        log.info("reading %s with dxchange.read_aps_32id", fname.name)
        return dxchange.read_aps_32id(str(fname), sino=(0, 2))
    log.info("reading %s with tomopy_dip.data.exchange.read_aps_32id (dxchange not installed)", fname.name)
    return tio.read_aps_32id(fname, sino=(0, 2))


def preprocess(proj, flat, dark, theta) -> tuple[np.ndarray, float]:
    """Normalise, -log and find the centre, as TomoPy's tutorial does."""
    if tomopy is not None:
        proj = tomopy.normalize(proj, flat, dark)
        proj = tomopy.minus_log(proj)
        center = float(np.ravel(tomopy.find_center(proj, theta, init=290, ind=0, tol=0.5))[0])
        log.info("centre %.2f (tomopy.find_center)", center)
    else:
        proj = pp.normalize(proj, flat, dark)
        proj = pp.minus_log(proj)
        center = pp.find_center(proj, theta, ind=0)
        log.info("centre %.2f (tomopy_dip.data.preprocess.find_center, Vo's method)", center)
    return proj, center


def gridrec(proj, theta, center) -> tuple[np.ndarray, str]:
    """TomoPy's gridrec, or tomopy_dip's FBP (same geometry convention) without TomoPy."""
    if tomopy is not None:
        return tomopy.recon(proj, theta, center=center, algorithm="gridrec"), "gridrec (TomoPy)"
    import torch

    from tomopy_dip.baselines import operator_for

    sino = pp.to_sinograms(proj)
    op = operator_for(sino[0], theta, center=center)
    return tomopy_dip.fbp(torch.from_numpy(sino), op, "hann").numpy(), "FBP (tomopy_dip; TomoPy not installed)"


def choose_method(theta, ndet: int, center: float, checkpoint: str | None) -> tuple[str, dict]:
    """EDIP when a checkpoint serves this geometry, else TV-DIP (with the reason logged)."""
    if "edip" not in tomopy_dip.ALGORITHMS:
        log.warning("tomopy_dip.edip is not available in this version: using tv_dip instead")
        return "tv_dip", {}
    if checkpoint:
        return "edip", {"checkpoint": checkpoint}
    try:
        from tomopy_dip.learning.checkpoints import choose_checkpoint
        from tomopy_dip.physics.geometry import Geometry

        name, reasons = choose_checkpoint(Geometry(theta, ndet, center=center))
    except (ImportError, ValueError) as exc:
        log.warning("EDIP needs a pretrained checkpoint and none is available (%s); using tv_dip "
                    "instead. Pretrain one with examples/pretrain_own_geometry.py and pass "
                    "--checkpoint FILE.", str(exc).split(";")[0])
        return "tv_dip", {}
    if reasons:
        log.warning("checkpoint %r is a poor match for the tooth (%s)", name, "; ".join(reasons))
    return "edip", {"checkpoint": name}


def circ_mask(rec: np.ndarray, ratio: float = 0.95) -> np.ndarray:
    """Zero outside the reconstruction circle (``tomopy.circ_mask(rec, axis=0, ratio)``)."""
    if tomopy is not None:
        return tomopy.circ_mask(rec, axis=0, ratio=ratio)
    n = rec.shape[-1]
    y, x = np.ogrid[: rec.shape[-2], :n]
    r = np.hypot(y - (rec.shape[-2] - 1) / 2, x - (n - 1) / 2)
    return np.where(r <= ratio * n / 2, rec, 0).astype(rec.dtype)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tooth-example", help="output directory")
    ap.add_argument("--smoke", action="store_true", help="tiny, fast run for tests")
    ap.add_argument("--downsample", type=int, default=None, help="detector binning (default 4; smoke 8)")
    ap.add_argument("--num-iter", type=int, default=None, help="DIP iterations (default 500; smoke 3)")
    ap.add_argument("--checkpoint", default=None, help="EDIP checkpoint (registry name or file)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    k = args.downsample or (8 if args.smoke else 4)
    n_iter = args.num_iter if args.num_iter is not None else (3 if args.smoke else 500)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    proj, flat, dark, theta = read(datasets.get_path("tooth"))
    proj, center = preprocess(proj, flat, dark, theta)
    # Detector binning keeps the example quick; the centre moves to (c - (k-1)/2) / k.
    proj = pp.bin_detector(proj, k)
    c = pp.binned_center(center, k)
    log.info("binned the detector x%d: %d pixels, centre %.2f", k, proj.shape[-1], c)

    t0 = time.perf_counter()
    rec_g, g_label = gridrec(proj, theta, c)
    t_g = time.perf_counter() - t0

    method, kw = choose_method(theta, proj.shape[-1], c, args.checkpoint)
    if args.smoke and method != "edip":
        kw.update(channels=(8, 8), skip_channels=(0, 4))
    recon = tomopy.recon if tomopy is not None else tomopy_dip.recon
    log.info("reconstructing with %s.recon(algorithm=tomopy_dip.%s, num_iter=%d)",
             "tomopy" if tomopy is not None else "tomopy_dip", method, n_iter)
    t0 = time.perf_counter()
    try:
        rec_d = recon(proj, theta, center=c, algorithm=tomopy_dip.ALGORITHMS[method], num_iter=n_iter,
                      ncore=1, **kw)
    except ValueError as exc:
        if method != "edip":
            raise
        log.warning("EDIP failed (%s); using tv_dip instead", exc)
        method, kw = "tv_dip", ({"channels": (8, 8), "skip_channels": (0, 4)} if args.smoke else {})
        rec_d = recon(proj, theta, center=c, algorithm=tomopy_dip.tv_dip, num_iter=n_iter, ncore=1, **kw)
    t_d = time.perf_counter() - t0

    rec_g, rec_d = circ_mask(np.asarray(rec_g)), circ_mask(np.asarray(rec_d))
    write_tiff_stack(out / f"tooth_{method}.tiff", rec_d, metadata={"center": c, "method": method})
    write_tiff_stack(out / "tooth_gridrec.tiff", rec_g, metadata={"center": c, "method": g_label})

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    for row in range(2):
        for col, (img, label, secs) in enumerate(((rec_g, g_label, t_g), (rec_d, f"tomopy_dip.{method}", t_d))):
            vmin, vmax = display_range(img[row])
            ax = axes[row, col]
            ax.imshow(img[row], cmap="gray", vmin=vmin, vmax=vmax)
            ax.set_title(f"{label}, row {row}\n{secs:.1f} s" + (f", {n_iter} iterations" if col else ""),
                         fontsize=9)
            ax.set_axis_off()
    fig.suptitle(f"TomoPy tooth: 181 views, detector binned x{k}, centre {center:.2f} px", fontsize=11)
    fig.tight_layout()
    figure = out / "tooth_pipeline.png"
    fig.savefig(figure)
    log.info("wrote %s", figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
