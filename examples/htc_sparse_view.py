#!/usr/bin/env python
"""Example 2: sparse-view CT of a real HTC 2022 phantom, FBP vs TV vs the DIP family.

Measured fan-beam data (Helsinki Tomography Challenge 2022, phantom ``ta``), 60 of the 720
views. Reconstructed with FBP, TV-regularised least squares (converged, preconditioned PDHG),
DIP, EDIP (when a checkpoint for this geometry is available) and aSeqDIP; the reference is SIRT on all 720
views. One figure shows the images with their PSNR and the PSNR of each method against wall
time.

Run::

    python examples/htc_sparse_view.py --out htc-example              # ~15-30 min on 2 cores
    python examples/htc_sparse_view.py --size 256 --num-iter 3000     # the benchmark protocol
    python examples/htc_sparse_view.py --smoke --out /tmp/smoke       # seconds (CI)

The data come from the dataset registry (``tomopy-dip datasets fetch htc2022_ta``; offline:
``TOMOPY_DIP_MIRROR`` pointing at a directory with ``htc2022/TrainingData/...``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

import tomopy_dip
from tomopy_dip.data import datasets as datasets
from tomopy_dip.baselines import operator_for, sirt, tv_ls
from tomopy_dip.metrics import psnr
from tomopy_dip.physics.measurement import data_scale
from tomopy_dip.interfaces.plotting import display_range, plot_psnr_curves

log = logging.getLogger("htc_sparse_view")


def run_dip(method: str, d: dict, ref: np.ndarray, n_iter: int, every: int, **kw) -> tuple:
    """Reconstruct with ``method``; returns the image and the (seconds, PSNR) curve."""
    t0 = time.perf_counter()
    curve: list[tuple[float, float]] = []

    def track(state: dict) -> None:
        curve.append((time.perf_counter() - t0, psnr(state["image"], ref)))

    res = tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], method=method, num_iter=n_iter,
                                 callback=track, callback_every=every, **d["geometry"], **kw)
    secs = time.perf_counter() - t0
    log.info("%-8s %.2f dB after %.1f s (%d iterations, returned #%d)", method, psnr(res.images, ref),
             secs, n_iter, int(np.ravel(res.iteration)[0]))
    return res.images, np.array(curve).reshape(-1, 2), secs


def edip_checkpoint(d: dict, given: str | None) -> str | None:
    """The checkpoint for EDIP: the one given, or a registered one serving this geometry."""
    if "edip" not in tomopy_dip.ALGORITHMS:
        log.warning("EDIP skipped: tomopy_dip.edip is not available in this version")
        return None
    if given:
        return given
    try:
        from tomopy_dip.learning.checkpoints import choose_checkpoint
        from tomopy_dip.physics.geometry import Geometry

        name, reasons = choose_checkpoint(Geometry(d["theta"], d["sinogram"].shape[1], center=d["center"],
                                                   **d["geometry"]))
    except (ImportError, ValueError) as exc:
        log.warning("EDIP skipped: no checkpoint for this geometry (%s). Pretrain one "
                    "(examples/pretrain_own_geometry.py) and pass --checkpoint FILE.", str(exc).split(";")[0])
        return None
    if reasons:
        log.warning("checkpoint %r is a poor match: %s", name, "; ".join(reasons))
    return name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="htc-example", help="output directory")
    ap.add_argument("--smoke", action="store_true", help="tiny, fast run for tests")
    ap.add_argument("--phantom", default="ta", choices=datasets.HTC_PHANTOMS)
    ap.add_argument("--views", type=int, default=60, help="views out of 720 (a divisor of 720)")
    ap.add_argument("--size", type=int, default=None, help="image size (default 128; smoke 32)")
    ap.add_argument("--num-iter", type=int, default=None, help="DIP iterations (default 1500; smoke 3)")
    ap.add_argument("--tv-gamma", type=float, default=5.0,
                    help="gamma of TV least squares 0.5||Ax - y||^2 + gamma TV(x) with the data at unit "
                         "image scale (best on the HTC training phantoms: about 5 at 128² and 20 views, "
                         "10 at 256² and 20 views, 18 at 256² and 60 views; benchmarks/tv_baseline.py)")
    ap.add_argument("--checkpoint", default=None, help="EDIP checkpoint (registry name or file)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    size = args.size or (32 if args.smoke else 128)
    n_iter = args.num_iter if args.num_iter is not None else (3 if args.smoke else 1500)
    det_bin = 8 if args.smoke else max(1, 256 // size)
    every = max(1, n_iter // 60)
    net = {"channels": (8, 8), "skip_channels": (0, 4)} if args.smoke else {}
    progress = not args.smoke
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    d = datasets.load_htc2022(args.phantom, n_views=args.views, size=size, detector_bin=det_bin)
    dense = datasets.load_htc2022(args.phantom, n_views=720, size=size, detector_bin=det_bin)
    log.info("HTC %s: %d views x %d detector pixels, %dx%d image", args.phantom, *d["sinogram"].shape, size, size)

    t0 = time.perf_counter()
    ref = sirt(dense["sinogram"], operator_for(dense["sinogram"], dense["theta"], dense["center"],
                                               **dense["geometry"]), num_iter=5 if args.smoke else 300)
    log.info("reference: SIRT on 720 views (%.1f s)", time.perf_counter() - t0)

    images: dict[str, np.ndarray] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    op = operator_for(d["sinogram"], d["theta"], d["center"], **d["geometry"])

    t0 = time.perf_counter()
    images["FBP"] = tomopy_dip.fbp(torch.from_numpy(d["sinogram"]), op, "hann").numpy()
    curves["FBP"] = (np.array([time.perf_counter() - t0]), np.array([psnr(images["FBP"], ref)]))

    # TV least squares at unit data scale (the engine's scaling), isotropic, solved to convergence
    scale = float(data_scale(torch.from_numpy(images["FBP"])[None])[0])
    tv_curve: list[tuple[float, float]] = []
    t0 = time.perf_counter()
    tv_res = tv_ls(d["sinogram"] / scale, op, args.tv_gamma, max_iter=10 if args.smoke else 10000,
                   callback=lambda k, x: tv_curve.append((time.perf_counter() - t0, psnr(x * scale, ref)))
                   if k % 20 == 0 else None)
    log.info("TV: %d iterations (%s)", tv_res.iterations, "converged" if tv_res.converged else "cap")
    images["TV"] = tv_res.image * scale
    tv = np.array(tv_curve)
    curves["TV"] = (tv[:, 0], tv[:, 1])

    runs = [("DIP", "dip", net), ("aSeqDIP", "aseqdip", net)]
    ckpt = edip_checkpoint(d, args.checkpoint)
    if ckpt is not None:
        runs.insert(1, ("EDIP", "edip", {"checkpoint": ckpt}))
    for label, method, kw in runs:
        try:
            img, curve, _ = run_dip(method, d, ref, n_iter, every, progress=progress, **kw)
        except ValueError as exc:
            if method != "edip":
                raise
            log.warning("EDIP skipped: %s", exc)
            continue
        images[label] = img
        curves[label] = (curve[:, 0], curve[:, 1])

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [("reference (SIRT, 720 views)", ref)] + list(images.items())
    fig = Figure(figsize=(3 * len(panels), 7), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, len(panels), height_ratios=[1, 1])
    vmin, vmax = display_range(ref)
    for i, (label, img) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax)
        ax.set_title(label if i == 0 else f"{label}\n{psnr(img, ref):.2f} dB", fontsize=9)
        ax.set_axis_off()
    ax = fig.add_subplot(grid[1, :])
    plot_psnr_curves(curves, ax=ax, xlabel="wall time (s)")
    ax.set_title(f"HTC 2022 '{args.phantom}', {args.views} views, {size}x{size}: PSNR against the "
                 "720-view SIRT reference", fontsize=10)
    fig.tight_layout()
    figure = out / "htc_sparse_view.png"
    fig.savefig(figure)
    for label, img in images.items():
        log.info("%-8s PSNR %.2f dB", label, psnr(img, ref))
    log.info("wrote %s", figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
