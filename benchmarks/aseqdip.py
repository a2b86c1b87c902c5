"""aSeqDIP against DIP, TV-DIP and TV on HTC and the FIPS gel phantom.

For each problem: TV (PDHG, best gamma), DIP, TV-DIP and aSeqDIP, each run for ``--num-iter``
iterations in one process; PSNR/SSIM of the returned image, best PSNR along the run, the
iteration where DIP peaks, and whether aSeqDIP stays within 0.5 dB of its peak up to 4x that
iteration. Writes ``results/aseqdip_<size>.json`` (merged with rows already there).

    python benchmarks/aseqdip.py --problems htc:ta htc:tb htc:tc fips:18 fips:36 --num-iter 2000
"""

from __future__ import annotations

import argparse
import logging

import torch

from common import dip_run, htc_problem, machine, median, save_rows, stability, tv_best, use_shared_data

from tomopy_dip.baselines import operator_for
from tomopy_dip.datasets import load_fips_gel


def problem(spec: str, size: int) -> dict:
    kind, arg = spec.split(":")
    if kind == "htc":
        return htc_problem(arg, 60, size)
    d = load_fips_gel(int(arg), 0, 256)
    d["op"] = operator_for(d["sinogram"], d["theta"], d["center"], **d["geometry"])
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", default=["htc:ta", "htc:tb", "htc:tc", "fips:18", "fips:36"])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--num-iter", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", nargs="+", default=["dip", "tv_dip", "aseqdip"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    use_shared_data()
    rows = {}
    for spec in args.problems:
        d = problem(spec, args.size)
        r = {"tv": tv_best(d)}
        for m in args.methods:
            res = dip_run(d, m, args.num_iter)
            res.pop("image")
            r[m] = res
        dip_peak = max(r["dip"]["curve"], key=lambda c: c[2])[0] if "dip" in r else args.num_iter
        r["dip_peak_iteration"] = dip_peak
        if "aseqdip" in r:
            r["aseqdip"]["stability"] = stability(r["aseqdip"]["curve"], dip_peak)
        rows[spec] = r
        print(spec, {m: round(r[m]["psnr"], 2) for m in ["tv", *args.methods]},
              "best", {m: round(r[m]["best_psnr"], 2) for m in args.methods},
              "dip peak at", dip_peak, r.get("aseqdip", {}).get("stability"), flush=True)
    print("\n| problem | TV | DIP (min loss) | DIP best | TV-DIP | aSeqDIP (returned) | aSeqDIP best | "
          "aSeqDIP max drop within 4x DIP peak | s/iter aSeqDIP / DIP |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec, r in rows.items():
        a, dp = r.get("aseqdip"), r.get("dip")
        print(f"| {spec} | {r['tv']['psnr']:.2f} | {dp['psnr']:.2f} | {dp['best_psnr']:.2f} | "
              f"{r['tv_dip']['psnr']:.2f} | {a['psnr']:.2f} | {a['best_psnr']:.2f} | "
              f"{a['stability']['max_drop_from_peak']:.2f} dB (to it {a['stability']['covered']}) | "
              f"{a['sec_per_iter'] / dp['sec_per_iter']:.2f} |")
    htc = [r for s, r in rows.items() if s.startswith("htc")]
    if htc:
        print("\nHTC median:", {m: round(median(r[m]["psnr"] for r in htc), 2) for m in ["tv", *args.methods]})
    name = f"aseqdip_{args.size}"  # rows merge into the file: one process per problem is fine
    print(f"written {save_rows(name, {'machine': machine(), 'args': vars(args)}, rows)}")


if __name__ == "__main__":
    main()
