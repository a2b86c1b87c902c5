"""``tomopy-dip pretrain``: pretrain an EDIP checkpoint for a geometry from the command line.

Parses, prints, and calls :func:`tomopy_dip.learning.pretraining.pretrain`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from tomopy_dip.data.files import read_tiff_stack
from tomopy_dip.learning.phantoms import PHANTOM_KINDS
from tomopy_dip.learning.pretraining import pretrain
from tomopy_dip.learning.pretraining.run import _GEOMETRY_KEYWORDS
from tomopy_dip.physics.fbp import FILTERS
from tomopy_dip.physics.geometry import BEAMS

__all__ = ["add_cli"]


def _theta_from_args(args: argparse.Namespace) -> np.ndarray:
    if args.theta_file:
        return np.asarray(np.load(args.theta_file), dtype=np.float64).reshape(-1)
    nproj = args.nproj or (max(args.views) if args.views else None)
    if not nproj:
        raise ValueError("give --nproj (or --views, or --theta-file)")
    return np.deg2rad(args.theta_start) + np.arange(nproj) * (np.deg2rad(args.arc) / nproj)


def _images_from_args(files: list[str] | None) -> np.ndarray | None:
    """``--images``: ``.npy`` files and TIFF files (a slice or a stack each, e.g. the slice files
    of ``tomopy-dip recon``), stacked in the order given."""
    if not files:
        return None
    stacks = []
    for name in files:
        path = Path(name).expanduser()
        if not path.is_file():
            raise ValueError(f"--images: no file {name!r} (.npy or TIFF)")
        arr = np.load(path, allow_pickle=False) if path.suffix == ".npy" else read_tiff_stack(path)
        stacks.append(np.asarray(arr, dtype=np.float32).reshape(-1, *np.shape(arr)[-2:]))
    if len({s.shape[1:] for s in stacks}) > 1:
        raise ValueError(f"--images: the files hold images of different sizes "
                         f"({sorted({s.shape[1:] for s in stacks})})")
    return np.concatenate(stacks)


def _run_cli(args: argparse.Namespace) -> int:
    theta = _theta_from_args(args)
    images = _images_from_args(args.images)
    beam = {k: getattr(args, k) for k in _GEOMETRY_KEYWORDS if getattr(args, k) is not None}
    serves = None
    if args.serves_views or args.serves_size:
        serves = {"views": args.serves_views or [min(args.views or [len(theta)]), max(args.views or [len(theta)])],
                  "size": args.serves_size or [args.num_gridx or args.ndet] * 2}
    argv = list(getattr(args, "argv", None) or sys.argv)
    command = "tomopy-dip " + shlex.join(argv[1:]) if argv else None
    path = pretrain(
        theta, args.ndet, args.center, args.num_gridx, args.num_gridy, out=args.out,
        num_steps=args.steps, batch_size=args.batch_size, lr_max=args.lr_max,
        weight_decay=args.weight_decay, val_size=args.val_size, val_every=args.val_every,
        checkpoint_every=args.checkpoint_every, seed=args.seed, resume=not args.no_resume,
        views=args.views, noise=args.noise, level=args.level, blur=args.blur,
        filter_name=args.filter_name, phantoms=args.phantoms, images=images,
        channels=args.channels,
        skip_channels=args.skip_channels, norm_groups=args.norm_groups,
        out_activation=args.out_activation, serves=serves, device=args.device,
        backend=args.backend, threads=args.threads, progress=not args.no_progress,
        command=command, description=args.description, dims=args.dims, slab=args.slab, **beam,
    )
    print(path)
    return 0


def add_cli(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add the ``pretrain`` sub-command to an argparse sub-command set (sets ``func``)."""
    p = subparsers.add_parser(
        "pretrain", help="pretrain an EDIP checkpoint for a geometry",
        description="Supervised pretraining on synthetic phantoms (EDIP stage 1). The geometry "
                    "takes the algorithms' keywords; angles are evenly spaced over --arc degrees "
                    "unless --theta-file gives them.",
    )
    g = p.add_argument_group("geometry")
    g.add_argument("--ndet", type=int, required=True, help="detector pixels")
    g.add_argument("--nproj", type=int, help="number of views (default: the largest of --views)")
    g.add_argument("--views", type=int, nargs="+", help="train for several view counts at once")
    g.add_argument("--arc", type=float, default=180.0, help="angular range in degrees (default 180)")
    g.add_argument("--theta-start", type=float, default=0.0, help="first angle in degrees")
    g.add_argument("--theta-file", help=".npy file of angles in radians (instead of --nproj/--arc)")
    g.add_argument("--center", type=float, help="rotation centre (gridrec convention)")
    g.add_argument("--num-gridx", type=int)
    g.add_argument("--num-gridy", type=int)
    g.add_argument("--beam", choices=BEAMS)
    g.add_argument("--source-origin", type=float, help="fan beam, in image pixels")
    g.add_argument("--origin-detector", type=float, help="fan beam, in image pixels")
    g.add_argument("--detector-spacing", type=float, help="detector pitch in image pixels")
    g.add_argument("--projector")
    t = p.add_argument_group("training")
    t.add_argument("--out", required=True, help="output checkpoint (.safetensors)")
    t.add_argument("--steps", type=int, default=10000)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--lr-max", type=float, default=5e-4)
    t.add_argument("--weight-decay", type=float, default=1e-5)
    t.add_argument("--val-size", type=int, default=32)
    t.add_argument("--val-every", type=int)
    t.add_argument("--checkpoint-every", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-resume", action="store_true", help="start over even if a .state file exists")
    t.add_argument("--noise", type=float, nargs="+", default=[0.05], metavar="LEVEL",
                   help="relative noise level (EDIP: 0.05), or LO HI: drawn per sample")
    t.add_argument("--level", type=float, nargs=2, metavar=("LO", "HI"),
                   help="intensity-level augmentation: target maximum drawn from U(LO, HI)")
    t.add_argument("--blur", type=float, nargs="+", metavar="PIXELS",
                   help="Gaussian blur of the phantoms (standard deviation in pixels), or LO HI: "
                        "drawn per sample")
    t.add_argument("--filter-name", default="hann", choices=FILTERS)
    t.add_argument("--phantoms", choices=PHANTOM_KINDS,
                   help="training phantoms: EDIP's random ellipses (default), discs with holes, or "
                        "the --images (the default with --images)")
    t.add_argument("--images", nargs="+", metavar="FILE",
                   help="pretrain on the scan itself: .npy or TIFF files of images on the grid "
                        "(e.g. the slice files of tomopy-dip recon for a few rows), rotated and "
                        "mirrored as training phantoms")
    t.add_argument("--dims", type=int, default=2, choices=(2, 3),
                   help="2: a 2-D U-Net on slices; 3: a 3-D U-Net on slabs of random ellipsoids")
    t.add_argument("--slab", type=int, help="--dims 3: rows per training slab (default 16)")
    t.add_argument("--channels", type=int, nargs="+")
    t.add_argument("--skip-channels", type=int, nargs="+")
    t.add_argument("--norm-groups", type=int)
    t.add_argument("--out-activation", choices=("none", "sigmoid"))
    t.add_argument("--serves-views", type=int, nargs=2, metavar=("LO", "HI"))
    t.add_argument("--serves-size", type=int, nargs=2, metavar=("LO", "HI"))
    t.add_argument("--device")
    t.add_argument("--backend", default="auto", choices=("auto", "matrix", "astra"))
    t.add_argument("--threads", type=int)
    t.add_argument("--description", default="")
    t.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_cli)
    return p
