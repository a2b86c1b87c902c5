"""``tomopy-dip demo``: parses, calls :func:`tomopy_dip.interfaces.demo.run_demo`, prints."""

from __future__ import annotations

import argparse
import time

from tomopy_dip.cli.common import (EXIT_OK, PROG, UsageError, _add_common, _add_threads, _algorithms,
                                   _Formatter, _out, _positive_int, _set_threads)
from tomopy_dip.interfaces.demo import DEFAULTS, QUICK, demo_settings, run_demo

__all__ = ["add_cli"]


def add_cli(sub: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add ``demo`` to the sub-commands (sets ``func``)."""
    d = sub.add_parser(
        "demo", formatter_class=_Formatter,
        help="simulated sparse-view scan: FBP vs TV-DIP, offline",
        description="Simulate a noisy sparse-view parallel-beam scan of the Shepp-Logan phantom "
                    "(no network, no data files), reconstruct it with FBP and TV-DIP, print the "
                    "PSNR of each and write demo.png, demo.tiff, history.csv and convergence.png.",
    )
    d.add_argument("-o", "--out", default="tomopy-dip-demo", metavar="DIR", help="output directory [./tomopy-dip-demo]")
    q = QUICK
    d.add_argument("--quick", action="store_true",
                   help=f"small, fast run ({q['size']}x{q['size']}, {q['views']} views, {q['num_iter']} iterations)")
    d.add_argument("--size", type=_positive_int, default=None, metavar="N",
                   help=f"phantom size N x N [{DEFAULTS['size']}]")
    d.add_argument("--views", type=_positive_int, default=None, metavar="V",
                   help=f"views over 180 degrees [{DEFAULTS['views']}]")
    d.add_argument("--noise", type=float, default=None, metavar="F",
                   help=f"relative noise level [{DEFAULTS['noise']:g}]")
    d.add_argument("--num-iter", type=int, default=None, metavar="N",
                   help=f"TV-DIP iterations [{DEFAULTS['num_iter']}]")
    d.add_argument("--algorithm", choices=_algorithms(), default="tv_dip", metavar="ALGORITHM",
                   help="method compared with FBP [tv_dip]")
    d.add_argument("--seed", type=int, default=0, help="seed of the noise and the network [0]")
    _add_threads(d)
    _add_common(d)
    d.set_defaults(func=_run)
    return d


def _run(args: argparse.Namespace) -> int:
    _set_threads(args.threads, args.quiet)
    try:  # the library's defaults and checks
        settings = demo_settings(args.size, args.views, args.noise, args.num_iter, args.quick)
    except ValueError as exc:
        raise UsageError(f"--{str(exc).replace('num_iter', 'num-iter')}") from None
    size, views, noise, n_iter = (settings[k] for k in ("size", "views", "noise", "num_iter"))
    _out(f"{PROG} demo: simulated parallel-beam scan of a {size}x{size} Shepp-Logan phantom, {views} views "
         f"over 180 deg, {100 * noise:g}% noise (built-in data, no network)", args.quiet)
    _out(f"Reconstructing with FBP and {args.algorithm} ({n_iter} iterations)...", args.quiet)
    t0 = time.perf_counter()
    res = run_demo(args.out, size=size, views=views, noise=noise, num_iter=n_iter, seed=args.seed,
                   method=args.algorithm, progress=not args.quiet)
    total = time.perf_counter() - t0
    print(f"{PROG} demo: {views} views of a {size}x{size} phantom, {100 * noise:g}% noise")
    for name in res.psnr:
        extra = ""
        if name != "FBP":
            extra = f"  ({res.settings['num_iter']} iterations, returned #{res.settings['selected_iteration']})"
        print(f"  {name:<8} PSNR {res.psnr[name]:6.2f} dB   SSIM {res.ssim[name]:.3f}   "
              f"{res.seconds[name]:6.1f} s{extra}")
    label = list(res.psnr)[-1]
    if res.psnr[label] < res.psnr["FBP"] and not res.settings.get("interrupted"):
        print(f"  note: {label} is still below FBP after {res.settings['num_iter']} iterations: it has not "
              "converged yet; try --num-iter 2000 (see 'Choosing a method' in the docs)")
    print(f"  total time {total:.1f} s")
    print(f"  output     {res.out}")
    print(f"    {res.files['comparison'].name:<16} phantom | FBP | {list(res.psnr)[-1]} with PSNR / SSIM")
    print(f"    {res.files['tiff'].name:<16} float32 stack: phantom, FBP, {list(res.psnr)[-1]}")
    print(f"    {res.files['history'].name:<16} loss per iteration")
    print(f"    {res.files['convergence'].name:<16} loss curves")
    print(f"Next: {PROG} recon YOUR_FILE.h5 --algorithm tv_dip --center auto --slices 0:1")
    return EXIT_OK
