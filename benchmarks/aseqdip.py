"""aSeqDIP against DIP, TV-DIP and TV on HTC and the FIPS gel phantom.

For each problem: TV (PDHG, best gamma), DIP, TV-DIP and aSeqDIP, each run for ``--num-iter``
iterations in one process; PSNR/SSIM of the returned image, best PSNR along the run, the
iteration where DIP peaks, and whether aSeqDIP stays within 0.5 dB of its peak up to 4x that
iteration (``stability``: the curve of the image it returns, by default the moving average of
its iterates; ``stability_iterates``: the iterates themselves). Seconds per iteration of
aSeqDIP against DIP come from the whole runs and, robust to a change of machine load during
the benchmark, from short runs of the two alternating in the same process
(``common.interleaved_sec_per_iter``). Writes ``results/aseqdip_<size>.json`` (merged with rows already there); with
``--set`` (a sweep of aSeqDIP's keywords) ``results/aseqdip_<size>_sweep.json``, one label per
setting, e.g. ``aseqdip[ae_weight=1,inner_steps=2]``.

    python benchmarks/aseqdip.py --problems htc:ta htc:tb htc:tc fips:18 fips:36 --num-iter 2000
"""

from __future__ import annotations

import argparse
import logging

import torch

from common import (dip_run, fips_problem, htc_problem, interleaved_sec_per_iter, load, machine, median, save_rows, stability,
                    tv_best, use_shared_data)



def problem(spec: str, size: int) -> dict:
    kind, arg = spec.split(":")
    if kind == "htc":
        return htc_problem(arg, 60, size)
    return fips_problem(int(arg), 256)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", default=["htc:ta", "htc:tb", "htc:tc", "fips:18", "fips:36"])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--num-iter", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", nargs="+", default=["dip", "tv_dip", "aseqdip"])
    ap.add_argument("--no-speed", action="store_true",
                    help="skip the interleaved seconds-per-iteration measurement (5 x 60 iterations each)")
    ap.add_argument("--speed-only", action="store_true",
                    help="only the interleaved speed measurement, merged into the problem's stored rows")
    ap.add_argument("--set", nargs="*", default=[],
                    help="extra keyword=value for aSeqDIP (e.g. ae_weight=1 inner_steps=2); "
                         "the results are stored under the label aseqdip[...]")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    use_shared_data()
    extra = {k: eval(v) for k, v in (s.split("=", 1) for s in args.set)}  # noqa: S307 - benchmark CLI
    label = "aseqdip" + (f"[{','.join(args.set)}]" if args.set else "")
    labels = {m: (label if m == "aseqdip" else m) for m in args.methods}
    # Sweeps (--set) go to their own file; rows of a problem merge method by method there.
    name = f"aseqdip_{args.size}" + ("_sweep" if args.set else "")
    previous = load(name).get("rows", {})
    rows = {}
    for spec in args.problems:
        d = problem(spec, args.size)
        r = {**previous.get(spec, {})}
        if not args.speed_only:
            r["tv"] = tv_best(d)
        for m, lab in ({} if args.speed_only else labels).items():
            res = dip_run(d, m, args.num_iter, **(extra if m == "aseqdip" else {}))
            res.pop("image")
            r[lab] = res
        if "dip" in r or label in r:
            dip_peak = max(r["dip"]["curve"], key=lambda c: c[2])[0] if "dip" in r else args.num_iter
            r["dip_peak_iteration"] = dip_peak
            if label in r:
                # the returned image's curve (aSeqDIP's default: the moving average of the
                # iterates), and that of the iterates themselves
                r[label]["stability"] = stability(r[label].get("returned_curve", r[label]["curve"]), dip_peak)
                r[label]["stability_iterates"] = stability(r[label]["curve"], dip_peak)
        if not args.no_speed:
            speed = interleaved_sec_per_iter(d, {"dip": ("dip", {}), label: ("aseqdip", extra)})
            r[f"speed[{label}]"] = {**speed, "ratio": speed[label] / speed["dip"]}
        rows[spec] = r
        print(spec, {lab: round(r[lab]["psnr"], 2) for lab in ["tv", *labels.values()] if lab in r},
              "best", {lab: round(r[lab]["best_psnr"], 2) for lab in labels.values() if lab in r},
              "dip peak at", r.get("dip_peak_iteration"), r.get(label, {}).get("stability"),
              "iterates", r.get(label, {}).get("stability_iterates"),
              "speed", r.get(f"speed[{label}]"), flush=True)
    print(f"written {save_rows(name, {'machine': machine(), 'args': vars(args)}, rows)}")
    if not all(m in r for r in rows.values() for m in ("dip", "tv_dip", label)):
        return
    fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    print("\n| problem | TV | DIP (min loss) | DIP best | TV-DIP | aSeqDIP (returned) | aSeqDIP best | "
          "aSeqDIP max drop within 4x DIP peak | s/iter aSeqDIP / DIP (whole runs) | same, interleaved |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec, r in rows.items():
        a, dp = r[label], r["dip"]
        print(f"| {spec} | {r['tv']['psnr']:.2f} | {dp['psnr']:.2f} | {dp['best_psnr']:.2f} | "
              f"{r['tv_dip']['psnr']:.2f} | {a['psnr']:.2f} | {a['best_psnr']:.2f} | "
              f"{a['stability']['max_drop_from_peak']:.2f} dB (to it {a['stability']['covered']}) | "
              f"{a['sec_per_iter'] / dp['sec_per_iter']:.2f} | {fmt(r.get(f'speed[{label}]', {}).get('ratio'))} |")
    htc = [r for s, r in rows.items() if s.startswith("htc")]
    if htc:
        print("\nHTC median:", {m: round(median(r[m]["psnr"] for r in htc), 2) for m in ["tv", "dip", "tv_dip", label]})

if __name__ == "__main__":
    main()
