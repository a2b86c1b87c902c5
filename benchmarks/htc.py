"""HTC sparse-view benchmark (protocol: BENCHMARK.md "HTC-60").

For each phantom: FBP, SIRT (300 iterations), TV (PDHG, best gamma of a grid) and the DIP-family
methods, all on the same operator in one process; PSNR/SSIM against the 720-view SIRT-300
reference, iterations and seconds to reach TV's best PSNR and TV + 1 dB. Prints a Markdown table
of medians and writes ``results/htc_<views>_<size>.json``.

    python benchmarks/htc.py --phantoms ta tb tc --views 60 --size 256 --num-iter 2000
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from common import (dip_run, first_reach, htc_problem, load, machine, median, save_rows, stability, tv_best,
                    use_shared_data)

import tomopy_dip
from tomopy_dip.baselines import sirt
from tomopy_dip.metrics import psnr, ssim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantoms", nargs="+", default=["ta", "tb", "tc"])
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
    rows = {}
    for ph in args.phantoms:
        prev = previous.get(ph, {})
        if all(m in prev for m in ("fbp", "sirt", "tv", *labels.values())):
            rows[ph] = prev
            print(f"{ph}: reusing results/{name}.json (--fresh recomputes)", flush=True)
            continue
        d = htc_problem(ph, args.views, args.size)
        ref, op = d["reference"], d["op"]
        r = dict(prev)  # keep the other methods' rows of this phantom (and its baselines)
        if not all(m in prev for m in ("fbp", "sirt", "tv")):
            t0 = time.perf_counter()
            fb = tomopy_dip.fbp(torch.from_numpy(d["sinogram"]), op, "hann").numpy()
            r["fbp"] = {"psnr": psnr(fb, ref), "ssim": ssim(fb, ref), "seconds": time.perf_counter() - t0}
            curve = []
            t0 = time.perf_counter()
            x = sirt(d["sinogram"], op, 300, callback=lambda k, x: curve.append(
                (k + 1, time.perf_counter() - t0, psnr(x, ref))) if (k + 1) % 10 == 0 else None)
            r["sirt"] = {"psnr": psnr(x, ref), "ssim": ssim(x, ref), "seconds": time.perf_counter() - t0,
                         "best_psnr": max(p for _, _, p in curve), "curve": curve}
            r["tv"] = tv_best(d)
        target = r["tv"]["psnr"]
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
        print(f"{ph}: FBP {r['fbp']['psnr']:.2f}, SIRT {r['sirt']['psnr']:.2f}, "
              f"TV {target:.2f} (gamma {r['tv']['gamma']:g})", flush=True)
        rows[ph] = r
        save_rows(name, {"machine": machine(), "args": vars(args)}, rows)

    methods = ["fbp", "sirt", "tv", *labels.values()]
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
    path = save_rows(name, {"machine": machine(), "args": vars(args)}, rows)
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
