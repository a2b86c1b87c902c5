#!/usr/bin/env python
"""Example 3: pretrain an EDIP checkpoint for your own scan geometry, then use it.

EDIP (educated DIP) starts from a U-Net pretrained on random ellipses simulated in the
geometry of *your* scan: same angles, detector, centre and image grid. This script

1. describes a geometry the TomoPy way (``theta`` in radians, ``ndet``, ``center`` in the
   gridrec convention, ``num_gridx`` x ``num_gridy``) and pretrains a checkpoint for it with
   ``tomopy_dip.pretrain(...)``;
2. reconstructs a simulated scan of the Shepp-Logan phantom (never seen in pretraining) with
   ``method="edip", checkpoint=<file>`` and, for comparison, with DIP from a random start
   (same network, same FBP input, same number of iterations);
3. writes ``pretrain_own_geometry.png``: the images and PSNR against the iteration.

Run::

    python examples/pretrain_own_geometry.py --out my-geometry          # ~10-20 min on 2 cores
    python examples/pretrain_own_geometry.py --smoke --out /tmp/smoke   # seconds (CI)

For a real beamline geometry, replace ``theta``, ``ndet`` and ``center`` by your scan's (e.g.
from ``dxchange.read_aps_32id`` and ``tomopy.find_center``), keep the checkpoint file, and pass
it to ``tomopy.recon(..., algorithm=tomopy_dip.edip, checkpoint="my_geometry.safetensors")``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

import tomopy_dip
from tomopy_dip.metrics import psnr
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.physics.measurement import simulate
from tomopy_dip.interfaces.plotting import display_range, plot_psnr_curves

log = logging.getLogger("pretrain_own_geometry")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="my-geometry", help="output directory")
    ap.add_argument("--smoke", action="store_true", help="tiny, fast run for tests")
    ap.add_argument("--views", type=int, default=None, help="views over 180 degrees (default 40; smoke 12)")
    ap.add_argument("--ndet", type=int, default=None, help="detector pixels = image size (default 96; smoke 24)")
    ap.add_argument("--steps", type=int, default=None, help="pretraining steps (default 3000; smoke 3)")
    ap.add_argument("--num-iter", type=int, default=None, help="fine-tuning iterations (default 300; smoke 3)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if not callable(getattr(tomopy_dip, "pretrain", None)):
        log.error("tomopy_dip.pretrain is not available in this version of tomopy_dip")
        return 1
    views = args.views or (12 if args.smoke else 40)
    ndet = args.ndet or (24 if args.smoke else 96)
    steps = args.steps or (3 if args.smoke else 3000)
    n_iter = args.num_iter if args.num_iter is not None else (3 if args.smoke else 300)
    net = {"channels": (8, 8), "skip_channels": (0, 4)} if args.smoke else {}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. The geometry, as TomoPy describes it, and a checkpoint for it.
    theta = np.linspace(0.0, np.pi, views, endpoint=False)
    center = ndet / 2.0 + 0.75  # an off-centre rotation axis, gridrec convention
    ckpt_path = out / "my_geometry.safetensors"
    t0 = time.perf_counter()
    path = tomopy_dip.pretrain(theta, ndet, center=center, num_gridx=ndet, num_gridy=ndet, out=ckpt_path,
                               num_steps=steps, batch_size=2 if args.smoke else 8,
                               progress=not args.smoke, **net)
    log.info("pretrained %s in %.1f s", path, time.perf_counter() - t0)

    # 2. A scan in that geometry, reconstructed from the checkpoint and from scratch.
    truth = shepp_logan(ndet)
    sino = simulate(truth, theta, center=center, noise=0.05, seed=1)
    every = max(1, n_iter // 50)
    results = {}
    for label, method, kw in (("EDIP (pretrained)", "edip", {"checkpoint": str(path)}),
                              ("DIP (random start)", "dip", {"network_input": "fbp", **net})):
        curve: list[tuple[int, float]] = []
        res = tomopy_dip.reconstruct(
            sino, theta, center, method=method, num_iter=n_iter, progress=not args.smoke,
            callback=lambda s, c=curve: c.append((s["iteration"], psnr(s["image"], truth))),
            callback_every=every, **kw)
        results[label] = (res.images, np.array(curve))
        log.info("%-20s PSNR %.2f dB after %d iterations", label, psnr(res.images, truth), n_iter)

    # 3. The figure.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    vmin, vmax = display_range(truth)
    panels = [("phantom", truth)] + [(k, v[0]) for k, v in results.items()]
    for ax, (label, img) in zip(axes, panels):
        ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax)
        ax.set_title(label if label == "phantom" else f"{label}\n{psnr(img, truth):.2f} dB", fontsize=9)
        ax.set_axis_off()
    plot_psnr_curves({k: (c[:, 0], c[:, 1]) for k, (_, c) in results.items()}, ax=axes[3], xlabel="iteration")
    axes[3].set_title(f"{views} views, 5% noise, {ndet}x{ndet}", fontsize=9)
    fig.tight_layout()
    figure = out / "pretrain_own_geometry.png"
    fig.savefig(figure)
    log.info("wrote %s", figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
