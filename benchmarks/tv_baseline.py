"""The classical baselines of the HTC benchmark, measured honestly (issue: very sparse views).

For every HTC training phantom and view count: FBP (Hann), SIRT-300 and TV least squares solved
to convergence (:func:`tomopy_dip.baselines.tv_ls`, preconditioned PDHG, relative change < 1e-5),
isotropic and anisotropic, over a half-decade gamma grid refined by quarter decades around its
best; reported with gamma chosen per phantom against the reference ("oracle", an upper bound)
and fixed to the single best gamma over the training phantoms ("fixed", what a user would pick). PSNR/SSIM against the 720-view SIRT-300
reference on the package's grid. Results are cached in ``results/classical_<views>_<size>.json``
and read by ``htc.py``.

    python benchmarks/tv_baseline.py --views 20 60 --size 256
"""

from __future__ import annotations

import argparse
import logging
import statistics

import torch

from common import TV_VARIANTS, classical_table, tv_baselines, use_shared_data

from tomopy_dip.data.datasets import HTC_PHANTOMS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantoms", nargs="+", default=list(HTC_PHANTOMS))
    ap.add_argument("--views", nargs="+", type=int, default=[20, 60])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fresh", action="store_true", help="recompute cached phantoms")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    use_shared_data()
    for views in args.views:
        table = classical_table(args.phantoms, views, args.size, args.fresh)
        tv = tv_baselines(table)
        print(f"\nHTC-{views} at {args.size}², PSNR (dB) / SSIM against the 720-view SIRT-300 reference\n")
        print("| | " + " | ".join(args.phantoms) + " | median |")
        print("|---" * (len(args.phantoms) + 2) + "|")

        def line(label, rows):
            cells = [f"{r['psnr']:.2f} / {r['ssim']:.3f}" for r in rows]
            med = statistics.median(r["psnr"] for r in rows)
            print(f"| {label} | " + " | ".join(cells) + f" | {med:.2f} |")

        line("FBP (Hann)", [table[p]["fbp"] for p in args.phantoms])
        line("SIRT-300", [table[p]["sirt"] for p in args.phantoms])
        fixed = tv[args.phantoms[0]]["tv_fixed"]
        line(f"TV, fixed γ = {fixed['gamma']:g} ({fixed['variant'][3:]})", [tv[p]["tv_fixed"] for p in args.phantoms])
        line("TV, oracle γ", [tv[p]["tv_oracle"] for p in args.phantoms])
        print("| oracle γ (variant) | " + " | ".join(
            f"{tv[p]['tv_oracle']['gamma']:g} ({tv[p]['tv_oracle']['variant'][3:]})" for p in args.phantoms) + " | |")
        print("| TV iterations at oracle γ | " + " | ".join(
            f"{tv[p]['tv_oracle']['iterations']}" for p in args.phantoms) + " | |")
        for v in TV_VARIANTS:
            print(f"\n{v}: PSNR (gamma)")
            for p in args.phantoms:
                print(f"  {p}: " + " ".join(f"{r['psnr']:.2f}{'' if r['converged'] else '*'} ({r['gamma']:g})"
                                          for r in table[p][v]))
        print("(* not converged within the cap)")


if __name__ == "__main__":
    main()
