"""``tomopy-dip demo``: parses, calls :func:`tomopy_dip.interfaces.demo.run_demo`, prints."""

from __future__ import annotations

import argparse
import time

from tomopy_dip.cli.common import (EXIT_OK, PROG, UsageError, _add_common, _add_threads, _algorithms,
                                   _Formatter, _out, _positive_int, _set_threads)

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
    d.add_argument("--quick", action="store_true", help="small, fast run (64x64, 20 views, 150 iterations)")
    d.add_argument("--size", type=_positive_int, default=None, metavar="N", help="phantom size N x N [128]")
    d.add_argument("--views", type=_positive_int, default=None, metavar="V", help="views over 180 degrees [30]")
    d.add_argument("--noise", type=float, default=None, metavar="F", help="relative noise level [0.02]")
    d.add_argument("--num-iter", type=int, default=None, metavar="N", help="TV-DIP iterations [1500]")
    d.add_argument("--algorithm", choices=_algorithms(), default="tv_dip", metavar="ALGORITHM",
                   help="method compared with FBP [tv_dip]")
    d.add_argument("--seed", type=int, default=0, help="seed of the noise and the network [0]")
    _add_threads(d)
    _add_common(d)
    d.set_defaults(func=_run)
    return d


def _run(args: argparse.Namespace) -> int:
    from tomopy_dip.interfaces.demo import DEFAULTS, QUICK, run_demo

    _set_threads(args.threads, args.quiet)
    base = QUICK if args.quick else DEFAULTS
    size, views = args.size or base["size"], args.views or base["views"]
    noise = base["noise"] if args.noise is None else args.noise
    n_iter = base["num_iter"] if args.num_iter is None else args.num_iter
    if n_iter < 0:
        raise UsageError("--num-iter must be >= 0")
    if noise < 0:
        raise UsageError("--noise must be >= 0")
    if size < 16:
        raise UsageError("--size must be at least 16")
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
