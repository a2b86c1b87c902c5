"""EDIP pretrained on the scan itself: its cost against what it saves, on the FIPS gel phantom.

A volume's slices resemble each other. This benchmark reconstructs a few of them at a method's
defaults (the *targets*), pretrains a network on pairs simulated from those images in the
scan's own geometry (:func:`tomopy_dip.pretrain` with ``images=``: rotated and flipped copies,
measured, noised and FBP'd as the scan), then fits another slice with EDIP from that network,
against DIP (TV-DIP from noise, the EDIP paper's "DIP (noise)") and EDIP from its automatic
start on the same slice. The FIPS gel phantom's time frames stand in for a volume's rows: frame
0 (the one the dense pre-scan matches, scored) is never among the targets.

Stages (each writes ``results/scan_pretrain_<size>_<views>.json``, merged, so they may run in separate
processes, one torch thread each):

- ``targets``: TV-DIP at its defaults on ``--frames`` (seconds and iterations of each);
- ``pretrain``: the checkpoint ``results/scan_pretrain_<size>_<views>.safetensors`` from the targets
  (``--steps``, batch ``--batch-size``), its seconds;
- ``fit``: on frame 0, DIP (noise) run to ``--num-iter`` without stopping, EDIP from the
  scan checkpoint and EDIP from its automatic start to ``--edip-iter``: PSNR curves, rise time
  (first iteration at DIP's steady PSNR - 0.1 dB, the EDIP paper's), maximum; then each
  method at its defaults (stopping rule on): returned PSNR, iterations, seconds.
- ``volume``: the whole pipeline on the gel's 17 frames written as the rows of a Data Exchange
  file (``results/fips_stack_<size>_<views>.h5``, already -log'd): ``--mode scan`` is
  ``reconstruct_file(..., "edip_fe", scan_pretrain=4)`` (``tomopy-dip recon --scan-pretrain
  4``), ``--mode tv_dip`` every row by TV-DIP, ``--mode auto`` the default route
  (:mod:`tomopy_dip.volume.route`); run them side by side, one thread each. Total
  seconds, each row's iterations and seconds, frame 0's PSNR, and how far each row of the one
  lies from the same row of the other;
- ``--report``: the table, and the break-even: how many slices the pretraining's cost (targets
  + pretraining) needs before EDIP's saving pays it back.

    python benchmarks/scan_pretrain.py --stage targets --frames 4 12 &
    python benchmarks/scan_pretrain.py --stage targets --frames 8 16 &
    wait
    python benchmarks/scan_pretrain.py --stage pretrain --steps 1500
    python benchmarks/scan_pretrain.py --stage fit
    python benchmarks/scan_pretrain.py --report
    python benchmarks/scan_pretrain.py --stage volume --mode scan &
    python benchmarks/scan_pretrain.py --stage volume --mode tv_dip &
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, dip_run, first_reach, load, machine, save_rows, use_shared_data  # noqa: E402

import tomopy_dip  # noqa: E402
from tomopy_dip.baselines import operator_for  # noqa: E402
from tomopy_dip.metrics import psnr  # noqa: E402


def frame(index: int, views: int, size: int) -> dict:
    from tomopy_dip.data.datasets import load_fips_gel

    d = load_fips_gel(views, frame=index, size=size)
    d["op"] = operator_for(d["sinogram"], d["theta"], d["center"], **d["geometry"])
    return d


def name(args: argparse.Namespace) -> str:
    return f"scan_pretrain_{args.size}_{args.views}"


def stage_targets(args: argparse.Namespace) -> None:
    for f in args.frames:
        d = frame(f, args.views, args.size)
        t0 = time.perf_counter()
        res = tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], method=args.target_method,
                                     progress=False, **d["geometry"])
        seconds = time.perf_counter() - t0
        np.save(RESULTS / f"{name(args)}_target_{f}.npy", res.images)
        save_rows(name(args), {"machine": machine()}, {f"target:{f}": {
            "iterations": int(res.iterations_run[0]), "seconds": seconds, "method": args.target_method,
            "psnr_to_frame0_reference": psnr(res.images, d["reference"])}})
        print(f"target frame {f}: {res.iterations_run[0]} it, {seconds:.0f} s", flush=True)


def checkpoint_path(args: argparse.Namespace) -> Path:
    return RESULTS / f"{name(args)}.safetensors"


def stage_pretrain(args: argparse.Namespace) -> None:
    rows = load(name(args)).get("rows", {})
    frames = sorted(int(k.split(":")[1]) for k in rows if k.startswith("target:"))
    if not frames:
        raise SystemExit("no targets yet: run --stage targets first")
    images = np.stack([np.load(RESULTS / f"{name(args)}_target_{f}.npy") for f in frames])
    d = frame(0, args.views, args.size)
    t0 = time.perf_counter()
    path = tomopy_dip.pretrain(d["theta"], d["sinogram"].shape[1], d["center"],
                               out=checkpoint_path(args), images=images, num_steps=args.steps,
                               batch_size=args.batch_size, lr_max=args.lr_max, noise=tuple(args.noise),
                               val_size=args.val_size, progress=False, **d["geometry"])
    seconds = time.perf_counter() - t0
    save_rows(name(args), {"machine": machine()}, {"pretrain": {
        "frames": frames, "steps": args.steps, "batch_size": args.batch_size, "lr_max": args.lr_max,
        "noise": args.noise, "seconds": seconds, "checkpoint": str(path.name)}})
    print(f"pretraining on frames {frames}: {seconds:.0f} s -> {path}", flush=True)


def stage_fit(args: argparse.Namespace) -> None:
    d = frame(0, args.views, args.size)
    runs = {
        "dip_noise": ("tv_dip", {"network_input": "noise"}, args.num_iter),
        "edip_scan": ("edip", {"checkpoint": str(checkpoint_path(args))}, args.edip_iter),
        "edip_fe_scan": ("edip_fe", {"checkpoint": str(checkpoint_path(args))}, args.edip_iter),
        "edip_auto": ("edip", {}, args.edip_iter),
    }
    extra = {"lr": args.lr} if args.lr else {}
    for label in args.methods:
        method, kw, n = runs[label]
        curve = dip_run(d, method, n, every=args.every, stop="none", **kw, **extra)
        curve.pop("image")
        defaults = dip_run(d, method, None, every=args.every, **kw, **extra)
        defaults.pop("image")
        label = f"{label}[lr={args.lr:g}]" if args.lr else label
        save_rows(name(args), {"machine": machine()}, {f"fit:{label}": {
            "curve": curve["curve"], "sec_per_iter": curve["sec_per_iter"],
            "defaults": {k: defaults[k] for k in ("psnr", "ssim", "seconds", "iterations", "stop_reason",
                                                  "best_psnr")}}})
        print(f"{label}: defaults {defaults['psnr']:.2f} dB in {defaults['iterations']} it / "
              f"{defaults['seconds']:.0f} s", flush=True)


def fips_stack(args: argparse.Namespace) -> tuple[Path, dict]:
    """The 17 frames as the rows of a Data Exchange file (``-log``'d data, theta in degrees) and
    the keywords of the geometry."""
    import h5py

    frames = [frame(f, args.views, args.size) for f in range(17)]
    path = RESULTS / f"fips_stack_{args.size}_{args.views}.h5"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with h5py.File(tmp, "w") as f:
            f["exchange/data"] = np.stack([d["sinogram"] for d in frames], axis=1).astype(np.float32)
            f["exchange/theta"] = np.rad2deg(frames[0]["theta"])
        tmp.replace(path)
    return path, {"center": frames[0]["center"], **frames[0]["geometry"], "reference": frames[0]["reference"]}


def stage_volume(args: argparse.Namespace) -> None:
    path, kw = fips_stack(args)
    reference = kw.pop("reference")
    out = RESULTS / f"fips_stack_{args.size}_{args.views}_{args.mode}"
    algorithm, extra = {"scan": ("edip_fe", {"scan_pretrain": 4}), "tv_dip": ("tv_dip", {}),
                        "auto": ("auto", {})}[args.mode]
    t0 = time.perf_counter()
    res = tomopy_dip.reconstruct_file(path, algorithm, out=out, normalize=False, minus_log=False, plan=False,
                                      progress=False, resume=True, **extra, **kw)
    seconds = time.perf_counter() - t0
    save_rows(name(args), {"machine": machine()}, {f"volume:{args.mode}": {
        "seconds": seconds, "timings": res.timings, "psnr_frame0": psnr(res.images[0], reference),
        "rows": {str(r): {k: res.records[r].get(k) for k in ("iterations", "seconds", "stop_reason", "method")}
                 for r in res.rows},
        "scan_pretrain": res.summary.get("scan_pretrain"), "route": res.summary.get("route"),
        "fallback": res.summary.get("fallback"), "threads": torch.get_num_threads(), "out": out.name}})
    print(f"volume {args.mode}: {seconds:.0f} s, frame 0 {psnr(res.images[0], reference):.2f} dB", flush=True)


def report(args: argparse.Namespace) -> None:
    rows = load(name(args)).get("rows", {})
    targets = {k: r for k, r in rows.items() if k.startswith("target:")}
    target_s = sum(r["seconds"] for r in targets.values())
    pre = rows.get("pretrain", {})
    print(f"targets: frames {sorted(int(k.split(':')[1]) for k in targets)}, {target_s:.0f} s "
          f"({', '.join(str(r['iterations']) for r in targets.values())} iterations); pretraining "
          f"{pre.get('steps')} steps of {pre.get('batch_size')}: {pre.get('seconds', float('nan')):.0f} s")
    dip = rows.get("fit:dip_noise")
    if dip is None:
        return
    n = max(1, int(round(len(dip["curve"]) / 4)))
    level = float(np.median([p for _, _, p in dip["curve"][-n:]])) - 0.1
    print(f"\nframe 0, {args.size}², {args.views} views; rise level (DIP's steady PSNR - 0.1 dB) {level:.2f} dB\n")
    print("| start | start PSNR | rise (it.) | rise (s) | max PSNR (it.) | s/iter | defaults: PSNR / iterations / s |")
    print("|---|---|---|---|---|---|---|")
    for label in [k[4:] for k in rows if k.startswith("fit:")]:
        r = rows.get(f"fit:{label}")
        if r is None:
            continue
        it, sec = first_reach(r["curve"], level)
        best = max(r["curve"], key=lambda c: c[2])
        dfl = r["defaults"]
        print(f"| {label} | {r['curve'][0][2]:.2f} | {it if it is not None else '–'} | "
              f"{'–' if sec is None else f'{sec:.0f}'} | {best[2]:.2f} ({best[0]}) | {r['sec_per_iter']:.3f} | "
              f"{dfl['psnr']:.2f} / {dfl['iterations']} / {dfl['seconds']:.0f} |")
    volume_report(args, rows)
    for label in ("edip_scan", "edip_fe_scan"):
        r = rows.get(f"fit:{label}")
        if r is None:
            continue
        saved = dip["defaults"]["seconds"] - r["defaults"]["seconds"]
        pay = lambda cost: f"{cost / saved:.1f}" if saved > 0 else "never"  # noqa: E731
        print(f"{label}: saves {saved:.0f} s per slice against DIP (noise) at the defaults; the pretraining "
              f"({pre.get('seconds', 0.0):.0f} s) is paid back after {pay(pre.get('seconds', 0.0))} slices "
              f"(the seed slices are slices of the result), pretraining and seeds together "
              f"({pre.get('seconds', 0.0) + target_s:.0f} s) after {pay(pre.get('seconds', 0.0) + target_s)}")


def volume_report(args: argparse.Namespace, rows: dict) -> None:
    """The two whole-stack runs side by side, and how far apart their rows are."""
    runs = {m: rows[f"volume:{m}"] for m in ("scan", "tv_dip") if f"volume:{m}" in rows}
    if not runs:
        return
    print("\n| 17 frames through reconstruct_file | seconds | iterations (sum) | frame 0 PSNR |")
    print("|---|---|---|---|")
    for m, r in runs.items():
        its = sum(v["iterations"] or 0 for v in r["rows"].values())
        extra = "" if not r.get("scan_pretrain") else \
            f" (seed rows {r['scan_pretrain']['seed_rows']}, pretraining {r['timings'].get('scan_pretrain', 0):.0f} s)"
        print(f"| {m}{extra} | {r['seconds']:.0f} | {its} | {r['psnr_frame0']:.2f} |")
    if len(runs) == 2 and all((RESULTS / r["out"]).is_dir() for r in runs.values()):  # (the slices are not kept)
        from tomopy_dip.volume.outputs import ResultDirectory

        a, b = (ResultDirectory(RESULTS / runs[m]["out"], {}) for m in ("scan", "tv_dip"))
        agree = [psnr(a.read_slice(r), b.read_slice(r)) for r in range(17)]
        print(f"rows of the one against the other: PSNR median {np.median(agree):.2f} dB, "
              f"min {min(agree):.2f} dB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=("targets", "pretrain", "fit", "volume"))
    ap.add_argument("--mode", choices=("scan", "tv_dip", "auto"), default="scan",
                    help="--stage volume: which run (auto: reconstruct_file's default route)")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--views", type=int, default=36)
    ap.add_argument("--frames", type=int, nargs="+", default=[4, 8, 12, 16])
    ap.add_argument("--target-method", default="tv_dip")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr-max", type=float, default=2e-3)
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.02])
    ap.add_argument("--val-size", type=int, default=16)
    ap.add_argument("--methods", nargs="+", default=["dip_noise", "edip_scan", "edip_fe_scan", "edip_auto"])
    ap.add_argument("--num-iter", type=int, default=3000)
    ap.add_argument("--edip-iter", type=int, default=1500)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--lr", type=float, help="--stage fit: this learning rate (the rows are labelled with it)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    use_shared_data()
    if args.report:
        report(args)
    elif args.stage:
        {"targets": stage_targets, "pretrain": stage_pretrain, "fit": stage_fit,
         "volume": stage_volume}[args.stage](args)
    else:
        ap.error("give --stage or --report")


if __name__ == "__main__":
    main()
