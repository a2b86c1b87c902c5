"""``tomopy-dip pretrain``: pretrain an EDIP checkpoint for a geometry from the command line.

Parses, prints, and calls :func:`tomopy_dip.learning.pretraining.pretrain`. The options of its
settings are generated from the schema
(:data:`~tomopy_dip.learning.pretraining.settings.PRETRAIN_KEYWORDS`: flag, type, default,
choices and help, the default shown as ``[...]``); the options that build the scan (angles,
detector, grid) and those read from files are this module's.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from tomopy_dip.data.files import read_tiff_stack
from tomopy_dip.learning.pretraining import pretrain
from tomopy_dip.learning.pretraining.settings import GEOMETRY_KEYWORDS, PRETRAIN_KEYWORDS, REQUIRED, Setting
from tomopy_dip.options import KEYWORDS

__all__ = ["add_cli", "setting_options"]

#: Placeholders of the options by the type they read (as ``tomopy-dip recon``'s).
_METAVARS = {int: "N", float: "X", str: "NAME"}


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


def setting_options() -> dict[str, Setting]:
    """The settings with an option of their own (a ``parse``), by name, in the schema's order."""
    return {k: s for k, s in PRETRAIN_KEYWORDS.items() if s.parse is not None}


def _help(setting: Setting) -> str:
    """The option's help: the setting's, its default in brackets (none for None, ``""`` or a
    required setting); a switch says what it turns off."""
    if setting.switch:
        return f"do not {setting.help}"
    text = setting.help.replace("%", "%%")
    if setting.default is REQUIRED or setting.default is None or setting.default == "":
        return text
    return f"{text} [%(default)s]"


def _add_setting(group: argparse._ArgumentGroup, setting: Setting) -> None:
    if setting.switch:
        group.add_argument(setting.flag, dest=setting.name, action="store_false", default=setting.default,
                           help=_help(setting))
        return
    where = {"required": True} if setting.default is REQUIRED else {"default": setting.default}
    metavar = setting.metavar or (None if setting.choices else _METAVARS.get(setting.parse))
    group.add_argument(setting.flag, dest=setting.name, type=setting.parse, nargs=setting.nargs,
                       choices=setting.choices, metavar=metavar, help=_help(setting), **where)


def _run_cli(args: argparse.Namespace) -> int:
    theta = _theta_from_args(args)
    images = _images_from_args(args.images)
    given = {k: getattr(args, k) for k in setting_options()}
    settings = {k: v for k, v in given.items() if k not in GEOMETRY_KEYWORDS}
    geometry = {k: v for k, v in given.items() if k in GEOMETRY_KEYWORDS and v is not None}
    serves = None
    if args.serves_views or args.serves_size:
        serves = {"views": args.serves_views or [min(args.views or [len(theta)]), max(args.views or [len(theta)])],
                  "size": args.serves_size or [args.num_gridx or args.ndet] * 2}
    argv = list(getattr(args, "argv", None) or sys.argv)
    command = "tomopy-dip " + shlex.join(argv[1:]) if argv else None
    path = pretrain(theta, args.ndet, args.center, args.num_gridx, args.num_gridy, images=images,
                    serves=serves, command=command, **settings, **geometry)
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
    g.add_argument("--ndet", type=int, required=True, metavar="N", help="detector pixels")
    g.add_argument("--nproj", type=int, metavar="N", help="number of views (default: the largest of --views)")
    g.add_argument("--arc", type=float, default=180.0, help="angular range in degrees [%(default)s]")
    g.add_argument("--theta-start", type=float, default=0.0, help="first angle in degrees [%(default)s]")
    g.add_argument("--theta-file", help=".npy file of angles in radians (instead of --nproj/--arc)")
    g.add_argument("--center", type=float, help="rotation centre (gridrec convention)")
    for name in ("num_gridx", "num_gridy"):
        kw = KEYWORDS[name]
        g.add_argument(kw.flag, type=kw.parse, metavar=kw.metavar, help=kw.help)
    t = p.add_argument_group("training")
    for setting in setting_options().values():
        _add_setting(g if setting.group == "geometry" else t, setting)
    t.add_argument("--images", nargs="+", metavar="FILE",
                   help="pretrain on the scan itself: .npy or TIFF files of images on the grid "
                        "(e.g. the slice files of tomopy-dip recon for a few rows), rotated and "
                        "mirrored as training phantoms")
    t.add_argument("--serves-views", type=int, nargs=2, metavar=("LO", "HI"),
                   help="view counts the checkpoint serves (default: close to those trained)")
    t.add_argument("--serves-size", type=int, nargs=2, metavar=("LO", "HI"),
                   help="image sizes the checkpoint serves (default: close to the one trained)")
    p.set_defaults(func=_run_cli)
    return p
