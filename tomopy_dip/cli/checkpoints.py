"""``tomopy-dip checkpoints list | fetch NAME | info FILE``: the registered EDIP checkpoints.

Parses, prints, and calls :mod:`tomopy_dip.learning.checkpoints`.
"""

from __future__ import annotations

import argparse
import json

from tomopy_dip.learning.checkpoints import checkpoint_info, fetch_checkpoint, list_checkpoints

__all__ = ["add_cli"]


def _print_list(args: argparse.Namespace) -> int:
    rows = list_checkpoints()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no checkpoints registered")
        return 0
    for r in rows:
        psnr = "" if r["val_psnr"] is None else f", validation PSNR {r['val_psnr']:.2f} dB"
        print(f"{r['name']}: {r['dims']}-D U-Net, {r['beam']} beam, {r['views'][0]}-{r['views'][1]} views over "
              f"{r['arc_degrees']:g}°, images {r['sizes'][0]}-{r['sizes'][1]} px{psnr}, "
              f"{r['file_size'] / 1e6:.1f} MB\n    {r['description']}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    print(fetch_checkpoint(args.name, progress=not args.quiet))
    return 0


def _info(args: argparse.Namespace) -> int:
    info = checkpoint_info(args.file)
    if not args.full:
        info.get("arguments", {}).pop("theta", None)
    print(json.dumps(info, indent=2, sort_keys=True))
    return 0


def add_cli(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add ``checkpoints list | fetch NAME | info FILE`` to an argparse sub-command set.

    Each leaf parser sets ``func`` (called with the parsed namespace, returns an exit code).
    Errors surface as :class:`ValueError` / :class:`~tomopy_dip.data.registry.RegistryError`.
    """
    p = subparsers.add_parser("checkpoints", help="list, fetch or inspect pretrained EDIP checkpoints",
                              description="Pretrained checkpoints for tomopy_dip.edip / edip_fe.")
    sub = p.add_subparsers(dest="checkpoints_command", required=True)
    q = sub.add_parser("list", help="list the registered checkpoints")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=_print_list)
    q = sub.add_parser("fetch", help="download (or find offline) and verify a checkpoint; prints its path")
    q.add_argument("name", help="registered name (see `checkpoints list`)")
    q.add_argument("--quiet", action="store_true", help="no download progress bar")
    q.set_defaults(func=_fetch)
    q = sub.add_parser("info", help="verify a checkpoint file (or name) and print its metadata")
    q.add_argument("file", help="checkpoint file or registered name")
    q.add_argument("--full", action="store_true", help="include the full list of training angles")
    q.set_defaults(func=_info)
    return p
