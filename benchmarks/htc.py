"""HTC sparse-view benchmark (protocol: BENCHMARK.md "HTC-60"), and the same table on FIPS.

For each phantom (``--dataset fips``: the FIPS gel phantom at 18 and 36 views, its fixed TV
gamma the best single one over those two): FBP, SIRT (300 iterations), converged TV with a fixed and an oracle gamma
(``tv_baseline.py``, cached in ``results/classical_<views>_<size>.json``, computed here when
missing) and the DIP-family methods, all on the same operator; PSNR/SSIM against the 720-view
SIRT-300 reference, iterations and seconds to reach the oracle TV's PSNR and that + 1 dB. Prints
a Markdown table of medians and writes ``results/htc_<views>_<size>.json``.

    python benchmarks/htc.py --phantoms ta tb tc --views 60 --size 256 --num-iter 2000
    python benchmarks/htc.py --dataset fips --methods tv_dip dip
"""

from __future__ import annotations

import argparse
import logging

import torch

from common import (dip_run, first_reach, DATASETS, classical_table, load, machine, median, save_rows, stability,
                    tv_baselines, use_shared_data)


CLASSICAL = ("fbp", "sirt", "tv_fixed", "tv_oracle")


def _fmt(v, f="{:.2f}") -> str:
    return "–" if v is None else f.format(v)


def report(rows: dict, phantoms: list[str], views: int, size: int, labels: list[str]) -> None:
    """Print the per-phantom PSNR / SSIM table and the medians of the classical baselines and
    ``labels`` (methods), with each method's margin over the oracle and the fixed-gamma TV."""
    methods = [*CLASSICAL, *labels]
    title = f"HTC-{views}" if phantoms[0] in DATASETS["htc"]["problems"] else "FIPS (views)"
    print(f"\n{title} at {size}², PSNR / SSIM per phantom and median (a method not run on every "
          f"phantom: the median of those it was run on, with their count)\n")
    print(f"| method | {' | '.join(phantoms)} | median | iterations | s/iter |")
    print("|---|" + "---|" * (len(phantoms) + 3))
    for m in methods:
        vals = [rows[p][m] for p in phantoms if m in rows[p]]
        cells = " | ".join(f"{rows[p][m]['psnr']:.2f} / {rows[p][m]['ssim']:.3f}" if m in rows[p] else "–"
                           for p in phantoms)
        its = [v.get("iterations") for v in vals if v.get("iterations") is not None]
        count = "" if len(vals) == len(phantoms) else f" ({len(vals)} of {len(phantoms)})"
        print(f"| {m} | {cells} | **{median(v['psnr'] for v in vals):.2f}** / {median(v['ssim'] for v in vals):.3f}"
              f"{count} | {f'{min(its)}–{max(its)}' if its else '–'} | "
              f"{_fmt(median(v.get('sec_per_iter') for v in vals), '{:.3f}')} |")
    print("\n| method | best PSNR along run | iterations to TV | s to TV | s to TV+1 dB |")
    print("|---|---|---|---|---|")
    for m in labels:
        vals = [rows[p][m] for p in phantoms if m in rows[p]]
        print(f"| {m} | {_fmt(median(v.get('best_psnr') for v in vals))} | "
              f"{_fmt(median(v.get('iters_to_tv') for v in vals), '{:.0f}')} | "
              f"{_fmt(median(v.get('sec_to_tv') for v in vals), '{:.0f}')} | "
              f"{_fmt(median(v.get('sec_to_tv+1dB') for v in vals), '{:.0f}')} |")
    for m in labels:
        run = [p for p in phantoms if m in rows[p]]
        med = {k: median(rows[p][k]["psnr"] for p in run) for k in (m, "tv_oracle", "tv_fixed")}
        print(f"{m}: median {med[m] - med['tv_oracle']:+.2f} dB over the oracle TV, "
              f"{med[m] - med['tv_fixed']:+.2f} dB over the fixed-gamma TV (on {', '.join(run)}); per phantom "
              "over the oracle: " + " / ".join(f"{rows[p][m]['psnr'] - rows[p]['tv_oracle']['psnr']:+.2f}" for p in run))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=tuple(DATASETS), default="htc")
    ap.add_argument("--phantoms", nargs="+", default=None,
                    help="the problems (the fixed TV gamma is the best over these) [HTC: its five training "
                         "phantoms; FIPS: 18 and 36 views]")
    ap.add_argument("--views", type=int, default=60)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--num-iter", type=int, default=None, help="cap of the iterations [the method's default]")
    ap.add_argument("--methods", nargs="+", default=["dip", "tv_dip"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], help="extra keyword=value for the DIP methods")
    ap.add_argument("--report", action="store_true",
                    help="print the tables of every method stored in results/htc_<views>_<size>.json "
                         "(fips_<size>.json) and stop")
    ap.add_argument("--fresh", action="store_true",
                    help="recompute problems already in the results file (default: reuse them)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    use_shared_data()
    spec = DATASETS[args.dataset]
    args.phantoms = args.phantoms or list(spec["problems"])
    extra = {k: eval(v) for k, v in (s.split("=", 1) for s in args.set)}  # noqa: S307 - benchmark CLI

    name = spec["results"](args.views, args.size)
    if args.report:
        rows = load(name).get("rows", {})
        missing = [p for p in args.phantoms if p not in rows]
        if missing:
            raise SystemExit(f"results/{name}.json has no row for {', '.join(missing)}")
        stored = dict.fromkeys(k for p in args.phantoms for k, v in rows[p].items()
                               if isinstance(v, dict) and "psnr" in v)
        report(rows, args.phantoms, args.views, args.size, [m for m in stored if m not in CLASSICAL])
        return
    # Runs with --set are stored under their own label, e.g. "tv_dip[lr=3e-3]".
    labels = {m: m + (f"[{','.join(args.set)}]" if args.set else "") for m in args.methods}
    previous = {} if args.fresh else load(name).get("rows", {})
    table = classical_table(args.phantoms, args.views, args.size, dataset=args.dataset)
    tv = tv_baselines(table)
    rows = {}
    for ph in args.phantoms:
        prev = previous.get(ph, {})
        base = {"fbp": table[ph]["fbp"], "sirt": table[ph]["sirt"], **tv[ph]}
        if all(m in prev for m in labels.values()):
            rows[ph] = {**prev, **base}
            print(f"{ph}: reusing results/{name}.json (--fresh recomputes)", flush=True)
            continue
        d = spec["load"](ph, args.views, args.size)
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

    report(rows, args.phantoms, args.views, args.size, list(labels.values()))
    path = save_rows(name, {"machine": machine(), "args": vars(args)}, rows)
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
