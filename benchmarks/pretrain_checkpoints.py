"""Produce the pretrained EDIP checkpoints shipped with tomopy-dip.

Usage (from the repository root)::

    python benchmarks/pretrain_checkpoints.py measure            # seconds per step, projected hours
    python benchmarks/pretrain_checkpoints.py parallel --threads 1   # 4000 steps x 8 at 128²
    python benchmarks/pretrain_checkpoints.py htc --threads 1        # 1500 steps x 4 at 256²
    python benchmarks/pretrain_checkpoints.py parallel3d --threads 1 # 3-D: 16-row slabs of 64²

Measured here with ``--threads 1`` (figures in ``benchmarks/README.md``): parallel 0.73 s/step,
0.80 h; HTC 1.7-3.4 s/step depending on what else ran; parallel3d 1.22 s/step, 0.54 h. ``measure`` projects a run's length from a few steps; ``--steps``
adjusts it (the one-cycle schedule follows it).

``parallel``
    One network for parallel-beam scans of 20-720 views over 180° and images of 128²-512²:
    trained on 128² images (``ndet = 128``), each batch with a view count drawn from
    {20, 30, 45, 60, 90, 120, 180, 360, 720} (evenly spaced over [0, pi)). The engine's data
    scaling (FBP / its 99.9th percentile) makes the network's input and output unit-free, and
    the U-Net is fully convolutional, so it serves other image sizes.
``htc``
    The HTC-60 geometry of BENCHMARK.md: fan beam, 60 views over 360°, 560 detector pixels,
    256² image (``tomopy_dip.data.datasets.load_htc2022(..., n_views=60, size=256)["geometry"]``).
    Trained on holed discs (the kind of object the challenge scans; the challenge's data are
    never used) with holes at 0-25 % of the disc's level (the scanner's reconstructions show
    its holes at 8-16 %: a network trained on empty holes empties them, 30-57 % of its error
    on the real scans), blurred by 0.5-2 pixels, with noise levels of 0.1-1 % (the scanner's data are
    far less noisy than EDIP's 5 %), per-channel GroupNorm and a one-cycle peak lr of 2e-3
    (``RUNS["htc"]["options"]``). What decides the start on the real scans is the intensity
    level: the engine scales data by the 99.9th percentile ``s`` of ``|FBP|``, a normalised
    network cannot see the absolute level of its input, so it learns the training set's
    ``max(x) / s`` — 0.75-0.81 for sharp phantoms, 0.90-0.96 on the real scans (softer edges,
    less noise). Former recipes came out 10-27 % too dark: EDIP's ellipses at a fixed 5 %
    16.5 dB on ``ta``, holed discs with 0.5-5 % noise and intensity-level augmentation
    19.0 dB (FBP 21.5 dB; 25.9 dB after the best global rescaling). Blurred phantoms at the
    scanner's noise put the level where the real scans have it. Its network has no skip into
    the finest scale (pretraining's default for an FBP input): with one, EDIP levelled off near
    34 dB on ``ta`` at 256², as DIP with the FBP as input does.
``parallel3d``
    A 3-D U-Net for ``dims=3`` with parallel beam, 20-180 views over 180°: EDIP's 3-D
    distribution (random ellipsoids in a ball, :func:`tomopy_dip.learning.phantoms.random_ellipsoid_slab`)
    cut into slabs of 16 rows of 64² slices (the fitting keyword ``slab``'s default), each row
    measured by the 2-D parallel-beam operator of a view count drawn from {20, 30, 45, 60, 90,
    120, 180}, 5 % noise, one scale per slab (the engine's ``dims=3``); the engine's default
    3-D network for 64² (3 scales).

Both use EDIP's recipe (MSE, Adam with weight decay 1e-5, one-cycle schedule with peak lr
5e-4; ``htc`` 2e-3) and the engine's U-Net (:class:`tomopy_dip.options.Options`); ``parallel`` with EDIP's
random ellipses at 5 % noise and pretraining's default GroupNorm over 4 groups
(:data:`tomopy_dip.learning.pretraining.PRETRAIN_NORM_GROUPS`). Options given on the command line override
a run's. A run is
resumable: interrupt it (Ctrl-C) and start the same command again. Work files (periodic
checkpoints, the resume state) go to ``benchmarks/results/pretrain/``. A release registers the
best checkpoint of each run (``RUNS``) in the package with ``python tools/register_checkpoint.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import tomopy_dip  # noqa: E402

WORK = REPO / "benchmarks" / "results" / "pretrain"

RUNS = {
    "parallel": {
        "name": "edip_parallel",
        "file": "edip_parallel_128.safetensors",
        "description": "EDIP U-Net for parallel beam, 20-720 views over 180°, images 128²-512² "
                       "(trained on 128² random ellipses, 5 % noise)",
        "steps": 4000, "batch_size": 8,
        "serves": {"views": [20, 720], "size": [128, 512]},
        "options": {"skip_channels": (4, 4, 4, 4)},
    },
    "htc": {
        "name": "edip_htc2022",
        "file": "edip_htc2022_fan_256.safetensors",
        "description": "EDIP U-Net for the HTC 2022 fan-beam scanner: 60 views over 360°, 560 "
                       "detector pixels, 256² images of the challenge's field of view (discs with "
                       "holes at 0-25 % of the disc's level, blurred by 0.5-2 pixels, 0.1-1 % "
                       "noise, per-channel GroupNorm)",
        "steps": 1500, "batch_size": 4,
        "serves": {"views": [30, 120], "size": [128, 512]},
        "options": {"phantoms": "holed_discs", "noise": (0.001, 0.01), "blur": (0.5, 2.0),
                    "norm_groups": 32, "lr_max": 2e-3},
    },
}
RUNS["parallel3d"] = {
    "name": "edip_parallel_3d",
    "file": "edip_parallel_3d_64.safetensors",
    "description": "EDIP 3-D U-Net (dims=3) for parallel beam, 20-180 views over 180°, slabs of 48²-128² "
                   "slices (trained on 16-row slabs of 64² random-ellipsoid volumes, 5 % noise)",
    "steps": 1500, "batch_size": 4,
    "serves": {"views": [20, 180], "size": [48, 128]},
    "options": {"dims": 3, "slab": 16},
}
PARALLEL_VIEWS = [20, 30, 45, 60, 90, 120, 180, 360, 720]
PARALLEL3D_VIEWS = [20, 30, 45, 60, 90, 120, 180]


def _mirror() -> None:
    data = REPO.parent / "shared" / "data"
    if "TOMOPY_DIP_MIRROR" not in os.environ and data.is_dir():
        os.environ["TOMOPY_DIP_MIRROR"] = str(data)


def geometry(kind: str, size: int | None = None) -> dict:
    """``theta``, ``ndet``, ``center`` and the beam keywords of a run."""
    if kind in ("parallel", "parallel3d"):
        size = size or (128 if kind == "parallel" else 64)
        views = PARALLEL_VIEWS if kind == "parallel" else PARALLEL3D_VIEWS
        return {"theta": np.linspace(0, np.pi, max(views), endpoint=False), "ndet": size,
                "center": None, "num_gridx": size, "num_gridy": size, "views": views}
    _mirror()
    from tomopy_dip.data.datasets import load_htc2022

    size = size or 256
    d = load_htc2022("ta", n_views=60, size=size, detector_bin=max(1, 256 // size))
    return {"theta": d["theta"], "ndet": d["sinogram"].shape[1], "center": d["center"], **d["geometry"]}


def options(run: dict, args: argparse.Namespace) -> dict:
    """The run's pretraining options, overridden by those given on the command line."""
    given = {"lr_max": args.lr_max, "phantoms": args.phantoms, "level": args.level, "norm_groups": args.norm_groups,
             "blur": None if args.blur is None else tuple(args.blur),
             "skip_channels": None if args.skip_channels is None else tuple(args.skip_channels),
             "noise": None if args.noise is None else tuple(args.noise)}
    opts = {**run.get("options", {}), **{k: v for k, v in given.items() if v is not None}}
    if args.no_level:
        opts.pop("level", None)
    return opts


def train(kind: str, args: argparse.Namespace) -> Path:
    run = RUNS[kind]
    geo = geometry(kind, args.size)
    out = Path(args.work) / kind / run["file"]
    out.parent.mkdir(parents=True, exist_ok=True)
    steps = args.steps or run["steps"]
    t0 = time.time()
    path = tomopy_dip.pretrain(
        out=out, num_steps=steps, batch_size=args.batch_size or run["batch_size"],
        val_size=32, val_every=max(1, steps // 40), checkpoint_every=max(1, steps // 4),
        seed=args.seed, serves=run["serves"], threads=args.threads, resume=not args.restart,
        **options(run, args),
        command="python " + shlex.join(["benchmarks/pretrain_checkpoints.py", *sys.argv[1:]]),
        description=run["description"], **geo,
    )
    print(f"{path}: {time.time() - t0:.0f} s in this session")
    return path


def measure(args: argparse.Namespace) -> None:
    """Time a few steps of each run (data + network + optimiser) and project the total."""
    from tomopy_dip.networks import UNet
    from tomopy_dip.options import Options
    from tomopy_dip.learning.pretraining import PRETRAIN_NORM_GROUPS, simulate_pairs, view_geometry
    from tomopy_dip.learning.phantoms import PHANTOM_FAMILIES, ellipses_batch
    from tomopy_dip.physics.geometry import Geometry

    if args.threads:
        torch.set_num_threads(args.threads)
    for kind, run in RUNS.items():
        geo = geometry(kind, args.size)
        views = geo.pop("views", None)
        base = Geometry(geo.pop("theta"), geo.pop("ndet"), **geo)
        geoms = [view_geometry(base, v) for v in views] if views else [base]
        ops = [tomopy_dip.get_operator(g) for g in geoms]
        opts = options(run, args)
        dims, slab = opts.get("dims", 2), opts.get("slab")
        base_net = Options(network_input="fbp", skip_channels=opts.get("skip_channels"),
                           dims=dims).network(base.shape_image)
        net = UNet(replace(base_net, norm_groups=opts.get("norm_groups", PRETRAIN_NORM_GROUPS)))
        opt = torch.optim.Adam(net.parameters(), 1e-4)
        b = args.batch_size or run["batch_size"]
        n = args.measure_steps
        # the run's data (family, noise, level, blur): the phantoms and their blur are part of a step
        data = {k: opts[k] for k in ("phantoms", "noise", "level", "blur") if opts.get(k) is not None}
        times = []
        for i in range(n + 1):
            t = time.perf_counter()
            p = simulate_pairs(ops[i % len(ops)], 0, range(i * b, (i + 1) * b), slab=slab, **data)
            loss = (net(p["input"]) - p["target"]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:  # the first step warms up
                times.append(time.perf_counter() - t)
        per = float(np.mean(times))
        steps = args.steps or run["steps"]
        print(f"{kind}: {base.num_gridx}² batch {b}: {per:.2f} s/step (threads {torch.get_num_threads()}) "
              f"-> {steps} steps ~ {per * steps / 3600 * 1.05:.2f} h (+5 % validation)")
        # Phantom generation alone, per sample, against the step: it must never be the bottleneck.
        for family in ("ellipses",) if slab else PHANTOM_FAMILIES:
            t = time.perf_counter()
            ellipses_batch(((slab,) if slab else ()) + base.shape_image, 0, range(32), family=family)
            gen = (time.perf_counter() - t) / 32
            print(f"  {family}: {gen * 1e3:.1f} ms per phantom = {gen * b / per:.1%} of a step")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("measure", *RUNS))
    p.add_argument("--steps", type=int, help="override the run's number of steps")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--size", type=int, help="override the image size (parallel 128, htc 256, parallel3d 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--lr-max", type=float, help="peak learning rate of the one-cycle schedule "
                                                "(default: the run's, else pretraining's 5e-4)")
    p.add_argument("--norm-groups", type=int,
                   help="GroupNorm groups (default tomopy_dip.learning.pretraining.PRETRAIN_NORM_GROUPS; "
                        "32 = per channel, the engine's DIP default)")
    p.add_argument("--skip-channels", type=int, nargs="+",
                   help="U-Net skip channels per scale (default: the run's, else the engine's)")
    p.add_argument("--phantoms", choices=("ellipses", "holed_discs"),
                   help="training phantoms (tomopy_dip.learning.phantoms.PHANTOM_FAMILIES; default: the run's)")
    p.add_argument("--noise", type=float, nargs="+",
                   help="relative noise level, or LO HI drawn per sample (default: the run's)")
    p.add_argument("--level", type=float, nargs=2, metavar=("LO", "HI"),
                   help="intensity-level augmentation (tomopy_dip.pretrain: level)")
    p.add_argument("--blur", type=float, nargs="+", metavar="PIXELS",
                   help="Gaussian blur of the phantoms in pixels, or LO HI drawn per sample (tomopy_dip.pretrain: blur)")
    p.add_argument("--no-level", action="store_true", help="no intensity-level augmentation (overrides the run's)")
    p.add_argument("--restart", action="store_true", help="ignore a saved state and start over")
    p.add_argument("--measure-steps", type=int, default=3)
    p.add_argument("--work", default=str(WORK), help="where runs write (default benchmarks/results/pretrain)")
    args = p.parse_args(argv)
    if args.what == "measure":
        measure(args)
    else:
        train(args.what, args)


if __name__ == "__main__":
    main()
