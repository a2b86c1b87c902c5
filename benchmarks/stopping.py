"""Ground-truth-free stopping rules measured along whole fits.

Runs a method for ``--num-iter`` iterations on each problem without stopping, records at every
iteration the PSNR of the iterate and of the image ``select`` would return, and the iterates'
windowed moving variance (ES-WMV, Wang et al., TMLR 2023: the mean over a window of ``W``
iterates of ``||x_i - mean(window)||^2 / n``), then replays the stopping rule offline for
several windows and patiences: stop at the first iteration where the variance has not reached
a new minimum for ``P`` iterations. For each setting it prints the iterations run and the
returned image's PSNR against the best iterate of the whole run.

    python benchmarks/stopping.py --problems htc:ta htc:tb htc:tc --views 60 --size 128 --num-iter 3000 --threads 1

Results: ``results/stopping_<views>_<size>.json`` (curves) and a Markdown table.
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np
import torch

from common import fips_problem, htc_problem, load, machine, save, use_shared_data

import tomopy_dip
from tomopy_dip.metrics import psnr

WINDOWS = (25, 50, 100)
PATIENCES = (100, 200, 300, 500, 1000)


def record(d: dict, method: str, num_iter: int, **kw) -> dict:
    """Per-iteration PSNRs and windowed variances of a run of ``method`` on problem ``d``."""
    ref = d["reference"]
    last = {w: collections.deque() for w in WINDOWS}
    sums = {w: [0.0, 0.0] for w in WINDOWS}  # running sum and sum of squares over the window
    rows = {"it_psnr": [], "est_psnr": [], "loss": [], **{f"wmv{w}": [] for w in WINDOWS},
            **{f"emv{w}": [] for w in WINDOWS}, **{f"mean_psnr{w}": [] for w in WINDOWS}}
    ema = {w: None for w in WINDOWS}  # exponential moving mean and variance, alpha = 2 / (W + 1)

    def cb(info):
        x = info["image"].astype(np.float64) / d["scale"]
        rows["it_psnr"].append(psnr(info["image"], ref))
        rows["est_psnr"].append(psnr(info["estimate"], ref))
        rows["loss"].append(info["loss"])
        for w, q in last.items():
            q.append(x)
            s = sums[w]
            s[0], s[1] = s[0] + x, s[1] + x * x
            if len(q) > w:
                old = q.popleft()
                s[0], s[1] = s[0] - old, s[1] - old * old
            if len(q) < w:
                rows[f"wmv{w}"].append(float("inf"))
                rows[f"mean_psnr{w}"].append(float("nan"))
            else:
                rows[f"wmv{w}"].append(float(np.mean(s[1] / w - (s[0] / w) ** 2)))
                rows[f"mean_psnr{w}"].append(psnr(s[0] / w * d["scale"], ref))
            a = 2.0 / (w + 1)
            if ema[w] is None:
                ema[w] = [x, np.zeros_like(x)]
            else:
                m, v = ema[w]
                ema[w] = [(1 - a) * m + a * x, (1 - a) * (v + a * (x - m) ** 2)]
            n_seen = len(rows["it_psnr"])
            rows[f"emv{w}"].append(float(ema[w][1].mean()) if n_seen >= w else float("inf"))

    d["scale"] = float(np.abs(ref).max())
    t0 = time.perf_counter()
    tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], method=method, num_iter=num_iter, stop="none",
                           callback=cb, progress=False, **d.get("geometry", {}), **kw)
    rows["seconds"] = time.perf_counter() - t0
    return rows


def replay(rows: dict, window: int, patience: int, kind: str = "wmv") -> tuple[int, float]:
    """Iteration at which the rule stops (or the last) and the PSNR returned there."""
    score = rows[f"{kind}{window}"]
    best, best_it = float("inf"), 0
    for k, s in enumerate(score):
        if s < best:
            best, best_it = s, k
        elif k - best_it >= patience:
            return k, rows["est_psnr"][k]
    return len(score) - 1, rows["est_psnr"][-1]


def replay_at_minimum(rows: dict, window: int, patience: int) -> tuple[int, float, float]:
    """ES-WMV's own choice: where the rule stops, and the PSNR of the iterate at the variance
    minimum and of the window's mean there (what a selection at the minimum would return)."""
    k, _ = replay(rows, window, patience)
    score = np.asarray(rows[f"wmv{window}"][:k + 1])
    at = int(np.argmin(score))
    return k, rows["it_psnr"][at], rows[f"mean_psnr{window}"][at]


TOLERANCES = (0.005, 0.01, 0.02, 0.05)


def replay_loss(rows: dict, tol: float, patience: int) -> tuple[int, float]:
    """Stop when the lowest loss so far improved by less than ``tol`` (relative) over the last
    ``patience`` iterations; iteration and returned PSNR."""
    best = np.minimum.accumulate(np.asarray(rows["loss"], dtype=np.float64))
    for k in range(patience, len(best)):
        if best[k] >= (1 - tol) * best[k - patience]:
            return k, rows["est_psnr"][k]
    return len(best) - 1, rows["est_psnr"][-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", default=["htc:ta", "htc:tb", "htc:tc"])
    ap.add_argument("--views", type=int, default=60, help="HTC views (FIPS: give fips:18 / fips:36)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--method", default="tv_dip")
    ap.add_argument("--num-iter", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true", help="print the table of stored runs only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    use_shared_data()
    name = f"stopping_{args.method}_{args.views}_{args.size}"
    runs = load(name).get("runs", {})
    if not args.report:
        for p in args.problems:
            kind, arg = p.split(":")
            d = htc_problem(arg, args.views, args.size) if kind == "htc" else fips_problem(int(arg), args.size)
            rows = record(d, args.method, args.num_iter)
            runs[p] = rows
            print(f"{p}: best iterate {max(rows['it_psnr']):.2f} dB at {int(np.argmax(rows['it_psnr']))}, "
                  f"{rows['seconds']:.0f} s", flush=True)
            save(name, {"machine": machine(), "args": vars(args), "runs": runs})
    for kind in ("wmv", "emv"):
        print(f"\n{args.method}, {args.views} views, {args.size}², up to {args.num_iter} iterations: "
              f"{kind.upper()} stop (iterations run / returned PSNR − best iterate of the run)\n")
        head = "| problem | best iterate (it.) | returned at the cap | " + " | ".join(
            f"W {w}, P {p}" for w in WINDOWS for p in PATIENCES) + " |"
        print(head)
        print("|" + "---|" * (3 + len(WINDOWS) * len(PATIENCES)))
        for p, rows in runs.items():
            best = max(rows["it_psnr"])
            cells = [f"{best:.2f} ({int(np.argmax(rows['it_psnr']))})", f"{rows['est_psnr'][-1] - best:+.2f}"]
            for w in WINDOWS:
                for pat in PATIENCES:
                    k, v = replay(rows, w, pat, kind)
                    cells.append(f"{k + 1} / {v - best:+.2f}")
            print(f"| {p} | " + " | ".join(cells) + " |")
    print(f"\n{args.method}, {args.views} views, {args.size}²: WMV stop, image at the variance minimum "
          "(iterations run / the iterate there − best / the window's mean there − best)\n")
    print("| problem | " + " | ".join(f"W {w}, P {p}" for w in WINDOWS for p in PATIENCES) + " |")
    print("|" + "---|" * (1 + len(WINDOWS) * len(PATIENCES)))
    for p, rows in runs.items():
        if f"mean_psnr{WINDOWS[0]}" not in rows:
            continue
        best = max(rows["it_psnr"])
        cells = []
        for w in WINDOWS:
            for pat in PATIENCES:
                k, it, mean = replay_at_minimum(rows, w, pat)
                cells.append(f"{k + 1} / {it - best:+.2f} / {mean - best:+.2f}")
        print(f"| {p} | " + " | ".join(cells) + " |")
    print(f"\n{args.method}, {args.views} views, {args.size}²: loss plateau (the lowest loss improved by less "
          "than tol over P iterations; iterations run / returned PSNR − best iterate)\n")
    print("| problem | " + " | ".join(f"tol {tol:g}, P {p}" for tol in TOLERANCES for p in PATIENCES) + " |")
    print("|" + "---|" * (1 + len(TOLERANCES) * len(PATIENCES)))
    for p, rows in runs.items():
        if "loss" not in rows:
            continue
        best = max(rows["it_psnr"])
        cells = []
        for tol in TOLERANCES:
            for pat in PATIENCES:
                k, v = replay_loss(rows, tol, pat)
                cells.append(f"{k + 1} / {v - best:+.2f}")
        print(f"| {p} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
