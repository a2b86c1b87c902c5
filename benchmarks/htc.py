"""HTC sparse-view benchmark (protocol: BENCHMARK.md "HTC-60").

For each phantom: FBP, SIRT (300 iterations), converged TV with a fixed and an oracle gamma
(``tv_baseline.py``, cached in ``results/classical_<views>_<size>.json``, computed here when
missing) and the DIP-family methods, all on the same operator; PSNR/SSIM against the 720-view
SIRT-300 reference, iterations and seconds to reach the oracle TV's PSNR and that + 1 dB. Prints
a Markdown table of medians and writes ``results/htc_<views>_<size>.json``.

    python benchmarks/htc.py --phantoms ta tb tc --views 60 --size 256 --num-iter 2000
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from common import (dip_run, first_reach, htc_classical, htc_problem, load, machine, median, save_rows, stability,
                    tv_baselines, use_shared_data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantoms", nargs="+", default=["ta", "tb", "tc", "td", "solid_disc"],
                    help="HTC training phantoms (the fixed TV gamma is the best over these)")
    ap.add_argument("--views", type=int, default=60)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--num-iter", type=int, default=None, help="cap of the iterations [the method's default]")
    ap.add_argument("--methods", nargs="+", default=["dip", "tv_dip"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], help="extra keyword=value for the DIP methods")
    ap.add_argument("--fresh", action="store_true",
                    help="recompute phantoms already in results/htc_<views>_<size>.json (default: reuse them)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    use_shared_data()
    extra = {k: eval(v) for k, v in (s.split("=", 1) for s in args.set)}  # noqa: S307 - benchmark CLI

    name = f"htc_{args.views}_{args.size}"
    # Runs with --set are stored under their own label, e.g. "tv_dip[lr=3e-3]".
    labels = {m: m + (f"[{','.join(args.set)}]" if args.set else "") for m in args.methods}
    previous = {} if args.fresh else load(name).get("rows", {})
    table = htc_classical(args.phantoms, args.views, args.size)
    tv = tv_baselines(table)
    rows = {}
    for ph in args.phantoms:
        prev = previous.get(ph, {})
        base = {"fbp": table[ph]["fbp"], "sirt": table[ph]["sirt"], **tv[ph]}
        if all(m in prev for m in labels.values()):
            rows[ph] = {**prev, **base}
            print(f"{ph}: reusing results/{name}.json (--fresh recomputes)", flush=True)
            continue
        d = htc_problem(ph, args.views, args.size)
        r = {**prev, **base}  # keep the other methods' rows of this phantom
        target = r["tv_oracle"]["psnr"]
        for m, label in labels.items():
            if label in prev:
                continue
            res = dip_run(d, m, args.num_iter, **extra)
            res.pop("image")
            for goal, tgt in (("tv", target), ("tv+1dB", target + 1)):
                it, sec = first_reach(res["curve"], tgt)
                res[f"iters_to_{goal}"], res[f"sec_to_{goal}"] = it, sec
            r[label] = res
            print(f"{ph} {label}: {res['psnr']:.2f} dB (best {res['best_psnr']:.2f}), "
                  f"{res['iterations']} iterations ({res['stop_reason']}), "
                  f"{res['sec_per_iter']:.3f} s/iter, reaches TV {target:.2f} dB at it "
                  f"{res['iters_to_tv']}", flush=True)
        if "dip" in r and "aseqdip" in r:
            r["dip_peak_iteration"] = max(r["dip"]["curve"], key=lambda c: c[2])[0]
            r["aseqdip"]["stability"] = stability(r["aseqdip"]["curve"], r["dip_peak_iteration"])
            print(f"{ph}: DIP peaks at {r['dip_peak_iteration']}; aSeqDIP {r['aseqdip']['stability']}")
        print(f"{ph}: FBP {r['fbp']['psnr']:.2f}, SIRT {r['sirt']['psnr']:.2f}, TV fixed "
              f"{r['tv_fixed']['psnr']:.2f}, oracle {target:.2f} (gamma {r['tv_oracle']['gamma']:g})", flush=True)
        rows[ph] = r
        save_rows(name, {"machine": machine(), "args": vars(args)}, rows)

    methods = ["fbp", "sirt", "tv_fixed", "tv_oracle", *labels.values()]
    print(f"\nHTC-{args.views} at {args.size}², median over {', '.join(args.phantoms)}\n")
    print("| method | PSNR (dB) | SSIM | best PSNR along run | iterations to TV | s to TV | s to TV+1 dB | s/iter |")
    print("|---|---|---|---|---|---|---|---|")
    for m in methods:
        vals = [rows[p][m] for p in args.phantoms]
        fmt = lambda v, f="{:.2f}": "–" if v is None else f.format(v)  # noqa: E731
        print(f"| {m} | {fmt(median(v['psnr'] for v in vals))} | {fmt(median(v['ssim'] for v in vals), '{:.3f}')} | "
              f"{fmt(median(v.get('best_psnr') for v in vals))} | "
              f"{fmt(median(v.get('iters_to_tv') for v in vals), '{:.0f}')} | "
              f"{fmt(median(v.get('sec_to_tv') for v in vals), '{:.0f}')} | "
              f"{fmt(median(v.get('sec_to_tv+1dB') for v in vals), '{:.0f}')} | "
              f"{fmt(median(v.get('sec_per_iter') for v in vals), '{:.3f}')} |")
    med = {m: median(rows[p][m]["psnr"] for p in args.phantoms) for m in methods}
    for label in labels.values():
        print(f"{label}: median {med[label] - med['tv_oracle']:+.2f} dB over the oracle TV, "
              f"{med[label] - med['tv_fixed']:+.2f} dB over the fixed-gamma TV")
    path = save_rows(name, {"machine": machine(), "args": vars(args)}, rows)
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
