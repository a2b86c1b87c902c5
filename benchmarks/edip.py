"""EDIP and EDIP-FE against DIP (noise input), DIP (FBP input) and TV: rise time and PSNR.

The EDIP paper's protocol (METHODS.md): for every method the PSNR curve against a dense-view
reference; *steady PSNR* = median PSNR over the last quarter of the run; *rise time* = first
iteration (and seconds) at which a method reaches DIP (noise)'s steady PSNR − 0.1 dB; *max PSNR*
and its iteration. All DIP-family runs share the loss (the engine's TV-DIP loss with the default
``tv_weight``, as the paper's stage 2 is TV-DIP for every method) and each method's default
learning rate (``--lr`` sets one for all), so the start is what differs: DIP from a random
network on noise or on the FBP, EDIP / EDIP-FE from the registered pretrained checkpoint chosen
automatically for the data's geometry (or ``--checkpoint``). EDIP-FE's
seconds per iteration are compared with EDIP's from the same process, from the whole runs and
from short runs of the two alternating (``common.interleaved_sec_per_iter``, robust to a change
of machine load).

``--baseline-from TAG`` runs only ``--methods`` (e.g. EDIP and EDIP-FE with a new checkpoint)
and takes TV and the other methods from an earlier results file: iterations compare directly;
for seconds the interleaved measurement then also times DIP (noise), and the rise time in
seconds is compared as iterations × interleaved s/iter (printed as a ratio).
``--report TAG [TAG ...]`` runs nothing and prints the table of the problems stored under those
tags, with the HTC medians (every training phantom, as BENCHMARK.md asks, when the files hold
them; a rise that was not reached counts as infinite in the median).

Problems: ``htc:<phantom>`` (HTC-60, BENCHMARK.md's geometry at ``--size``, 720-view SIRT-300
reference; the default runs all five training phantoms at the protocol's 256²) and ``tooth``
(TomoPy's tooth, parallel beam, 31 of 181 views, detector binned to 160 pixels, 181-view
SIRT-300 reference). Writes ``results/edip_<size><tag>.json`` after every problem and reuses
finished problems of an earlier run (``--fresh`` recomputes).

    python benchmarks/edip.py --num-iter 1500 --edip-iter 600
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import warnings

import numpy as np
import torch

from common import (dip_run, first_reach, htc_problem, interleaved_sec_per_iter, load, machine, median, save_rows,
                    tooth_problem, tv_best, use_shared_data)

from tomopy_dip.learning.checkpoints import CheckpointMatchWarning

#: label -> (method, extra keywords, which iteration budget)
METHODS = {
    "dip_noise": ("tv_dip", {"network_input": "noise"}, "dip"),
    "dip_fbp": ("tv_dip", {"network_input": "fbp"}, "dip"),
    "edip": ("edip", {}, "edip"),
    "edip_fe": ("edip_fe", {}, "edip"),
}


def steady(curve: list, fraction: float = 0.25) -> float:
    """Median PSNR over the last ``fraction`` of a (iteration, seconds, psnr) curve."""
    n = max(1, int(round(len(curve) * fraction)))
    return float(np.median([p for _, _, p in curve[-n:]]))


def problem(spec: str, size: int) -> dict:
    if spec == "tooth":
        return tooth_problem()
    kind, phantom = spec.split(":")
    if kind != "htc":
        raise SystemExit(f"unknown problem {spec!r} (htc:<phantom> or tooth)")
    return htc_problem(phantom, 60, size)


def run_problem(d: dict, args: argparse.Namespace, baseline: dict | None = None) -> dict:
    """Every method of ``args.methods`` on problem ``d``; ``baseline``: rows of an earlier run
    (``--baseline-from``) that fill in TV and the methods not run here."""
    r = {}
    if baseline is None or "tv" not in baseline:
        r["tv"] = tv_best(d)
    for label in args.methods:
        method, kw, budget = METHODS[label]
        n = args.num_iter if budget == "dip" else args.edip_iter
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CheckpointMatchWarning)
            lr = {} if args.lr is None else {"lr": args.lr}
            ck = {"checkpoint": args.checkpoint} if args.checkpoint and budget == "edip" else {}
            res = dip_run(d, method, n, every=args.every, **lr, **ck, **kw)
        res.pop("image")
        res["warnings"] = [str(w.message) for w in caught if issubclass(w.category, CheckpointMatchWarning)]
        res["start_psnr"] = res["curve"][0][2]
        res["steady_psnr"] = steady(res["curve"])
        best = max(res["curve"], key=lambda c: c[2])
        res["max_psnr"], res["max_iteration"] = best[2], best[0]
        r[label] = res
    if "edip" in args.methods and "edip_fe" in args.methods and not args.no_speed:
        ck = {"checkpoint": args.checkpoint} if args.checkpoint else {}
        runs = {"dip_noise": METHODS["dip_noise"][:2], "edip": ("edip", ck), "edip_fe": ("edip_fe", ck)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CheckpointMatchWarning)
            speed = interleaved_sec_per_iter(d, runs)
        r["speed"] = {**speed, "ratio": speed["edip_fe"] / speed["edip"],
                      "edip_over_dip": speed["edip"] / speed["dip_noise"]}
    for label, row in (baseline or {}).items():  # rows of an earlier run, for what was not run here
        r.setdefault(label, row)
    if "dip_noise" in r:
        level = r["dip_noise"]["steady_psnr"] - 0.1
        r["rise_level"] = level
        for label in METHODS:
            if label in r:
                r[label]["rise_iterations"], r[label]["rise_seconds"] = first_reach(r[label]["curve"], level)
    return r


def rise_median(values) -> float | None:
    """Median rise time, a problem where the level was not reached counting as infinite
    (``None`` when that is the median)."""
    m = statistics.median([math.inf if v is None else v for v in values])
    return None if math.isinf(m) else float(m)


def report(rows: dict) -> None:
    """Print the table of every problem, the HTC medians and the speed ratios."""
    fmt = lambda v, f="{:.2f}": "–" if v is None else f.format(v)  # noqa: E731
    print("\n| problem | method | start PSNR | rise time (it.) | rise time (s) | max PSNR (it.) | steady PSNR | s/iter |")
    print("|---|---|---|---|---|---|---|---|")
    for spec, r in rows.items():
        for m in (m for m in METHODS if m in r):
            v = r[m]
            print(f"| {spec} | {m} | {v['start_psnr']:.2f} | {fmt(v.get('rise_iterations'), '{:.0f}')} | "
                  f"{fmt(v.get('rise_seconds'), '{:.0f}')} | {v['max_psnr']:.2f} ({v['max_iteration']}) | "
                  f"{v['steady_psnr']:.2f} | {v['sec_per_iter']:.3f} |")
        print(f"| {spec} | tv (γ {r['tv']['gamma']:g}) | | | | | {r['tv']['psnr']:.2f} | |")
    htc = [r for s, r in rows.items() if s.startswith("htc")]
    if htc:
        print("\nHTC median:")
        for m in (m for m in METHODS if all(m in r for r in htc)):
            reached = sum(r[m].get("rise_iterations") is not None for r in htc)
            print(f"  {m}: rise {fmt(rise_median(r[m].get('rise_iterations') for r in htc), '{:.0f}')} it / "
                  f"{fmt(rise_median(r[m].get('rise_seconds') for r in htc), '{:.0f}')} s "
                  f"(reached on {reached} of {len(htc)}), max "
                  f"{median(r[m]['max_psnr'] for r in htc):.2f}, steady {median(r[m]['steady_psnr'] for r in htc):.2f}, "
                  f"{median(r[m]['sec_per_iter'] for r in htc):.3f} s/iter")
    for spec, r in rows.items():
        if "edip" in r and "edip_fe" in r:
            print(f"{spec}: EDIP-FE / EDIP seconds per iteration "
                  f"{r['edip_fe']['sec_per_iter'] / r['edip']['sec_per_iter']:.2f} (whole runs), "
                  f"{r['speed']['ratio'] if 'speed' in r else float('nan'):.2f} (interleaved)")
        dip_it = r.get("dip_noise", {}).get("rise_iterations")
        edip_it = r.get("edip", {}).get("rise_iterations")
        if dip_it and edip_it and "edip_over_dip" in r.get("speed", {}):
            # seconds from iterations and the interleaved s/iter, robust to load differences
            # between this run and a --baseline-from run
            print(f"{spec}: EDIP's rise time {dip_it / edip_it:.1f}x shorter than DIP (noise)'s in "
                  f"iterations, {dip_it / edip_it / r['speed']['edip_over_dip']:.1f}x in seconds "
                  f"(interleaved EDIP / DIP s/iter {r['speed']['edip_over_dip']:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", default=["htc:ta", "htc:tb", "htc:tc", "htc:td", "htc:solid_disc", "tooth"])
    ap.add_argument("--size", type=int, default=256, help="HTC image size (default 256, BENCHMARK.md's)")
    ap.add_argument("--num-iter", type=int, default=3000, help="iterations of the DIP runs")
    ap.add_argument("--edip-iter", type=int, default=1000, help="iterations of EDIP and EDIP-FE")
    ap.add_argument("--every", type=int, default=10, help="PSNR every this many iterations")
    ap.add_argument("--lr", type=float, default=None, help="learning rate of all runs (default: each method's)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="", help="suffix of the results file")
    ap.add_argument("--checkpoint", help="EDIP checkpoint (name or file) instead of the automatic choice; "
                                         "use with --tag")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--baseline-from", metavar="TAG",
                    help="take TV and the methods not in --methods from results/edip_<size><TAG>.json "
                         "(e.g. a new checkpoint's EDIP rows against stored DIP rows); the rise level is "
                         "that run's DIP (noise) steady PSNR, and the interleaved speed measurement "
                         "adds DIP (noise) so that seconds compare within this process")
    ap.add_argument("--report", nargs="+", metavar="TAG",
                    help="run nothing: print the table and the HTC medians of the problems stored in "
                         "results/edip_<size><TAG>.json for each TAG (the first file holding a problem wins)")
    ap.add_argument("--no-speed", action="store_true",
                    help="skip the interleaved EDIP-FE / EDIP seconds-per-iteration measurement")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    use_shared_data()
    if args.report:
        rows = {}
        for tag in args.report:
            for spec, r in load(f"edip_{args.size}{tag}").get("rows", {}).items():
                rows.setdefault(spec, r)
        if not rows:
            raise SystemExit(f"--report: no results in results/edip_{args.size}<TAG>.json for {args.report}")
        report(rows)
        return
    name = f"edip_{args.size}{args.tag}"
    previous = {} if args.fresh else load(name).get("rows", {})
    rows = {}
    for spec in args.problems:
        if spec in previous and all(m in previous[spec] for m in args.methods):
            rows[spec] = previous[spec]
            print(f"{spec}: reusing results/{name}.json", flush=True)
            continue
        base = load(f"edip_{args.size}{args.baseline_from}").get("rows", {}).get(spec) if args.baseline_from else None
        if args.baseline_from and not base:
            raise SystemExit(f"--baseline-from {args.baseline_from}: no {spec} in results/edip_{args.size}{args.baseline_from}.json")
        rows[spec] = run_problem(problem(spec, args.size), args, base)
        r = rows[spec]
        print(spec, "TV", round(r["tv"]["psnr"], 2), {
            m: {k: (round(r[m][k], 3) if isinstance(r[m][k], float) else r[m][k])
                for k in ("start_psnr", "steady_psnr", "max_psnr", "max_iteration", "rise_iterations",
                          "rise_seconds", "sec_per_iter")} for m in METHODS if m in r}, flush=True)
        save_rows(name, {"machine": machine(), "args": vars(args)}, rows)

    report(rows)
    print(f"written {save_rows(name, {'machine': machine(), 'args': vars(args)}, rows)}")


if __name__ == "__main__":
    main()
