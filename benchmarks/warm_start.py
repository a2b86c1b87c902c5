"""Neighbour warm start: each slice starts from the network fitted to the slice before it.

Compares, with a method's defaults (stopping rule on), independent slices against a chain of
warm-started slices (``keep_network`` / ``init_network``, what ``reconstruct_file(...,
warm_start=True)`` does within a task): iterations and seconds per slice, and PSNR.

Problems:

- ``sim``: ``common.drifting_stack`` (random ellipses drifting from row to row), parallel beam,
  ``--views`` views, 1 % Gaussian noise; PSNR against the simulated slices.
- ``fips``: the FIPS gel phantom's time frames stacked as rows in reverse order (fan beam,
  ``--views`` of 18/36), so that frame 0, the only one the dense pre-scan matches, comes last
  and is warm-started; its PSNR against the pre-scan, and how far each warm-started frame lies
  from its independent reconstruction (PSNR between the two).

Run the two modes side by side, one torch thread each, then report::

    python benchmarks/warm_start.py --problem sim --size 128 --rows 8 --mode independent &
    python benchmarks/warm_start.py --problem sim --size 128 --rows 8 --mode warm &
    wait; python benchmarks/warm_start.py --report
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import drifting_stack, load, machine, save_rows, use_shared_data  # noqa: E402

import tomopy_dip  # noqa: E402
from tomopy_dip.metrics import psnr  # noqa: E402


def problem(args: argparse.Namespace) -> dict:
    if args.problem == "sim":
        from tomopy_dip.physics.measurement import simulate

        truth = drifting_stack(args.size, args.rows, seed=1) * (2.0 / args.size)
        theta = np.linspace(0, np.pi, args.views, endpoint=False)
        sinos = np.stack([simulate(img, theta, noise=0.01, seed=i) for i, img in enumerate(truth)])
        return {"sinos": sinos, "theta": theta, "center": None, "truth": list(truth), "geometry": {}}
    use_shared_data()
    from tomopy_dip.data.datasets import load_fips_gel

    # frames in reverse order: frame 0, the one the reference matches, comes last (warm-started)
    frames = [load_fips_gel(args.views, frame=f, size=args.size) for f in reversed(range(args.rows))]
    return {"sinos": np.stack([f["sinogram"] for f in frames]), "theta": frames[0]["theta"],
            "center": frames[0]["center"], "truth": [None] * (args.rows - 1) + [frames[-1]["reference"]],
            "geometry": frames[0]["geometry"]}


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    d = problem(args)
    previous, rows = None, {}
    for i, sino in enumerate(d["sinos"]):
        kw = dict(d["geometry"], progress=False)
        if args.mode == "warm":
            kw.update(keep_network=True, init_network=previous)
        t0 = time.perf_counter()
        res = tomopy_dip.reconstruct(sino, d["theta"], d["center"], method=args.method, **kw)
        seconds = time.perf_counter() - t0
        previous = res.networks[0] if args.mode == "warm" else None
        truth = d["truth"][i]
        rows[f"{args.problem}:{args.size}:{args.views}:{args.method}:{args.mode}:{i}"] = {
            "iterations": int(res.iterations_run[0]), "stop_reason": res.stop_reason[0], "seconds": seconds,
            "psnr": None if truth is None else psnr(res.images, truth),
            "image": res.images.tolist() if args.problem == "fips" else None}
        print(f"{args.mode} slice {i}: {res.iterations_run[0]} it, {seconds:.0f} s"
              + ("" if truth is None else f", {rows[list(rows)[-1]]['psnr']:.2f} dB"), flush=True)
        save_rows("warm_start", {"machine": machine()}, rows)


def report() -> None:
    rows = load("warm_start").get("rows", {})
    groups: dict[str, dict[str, dict[int, dict]]] = {}
    for key, r in rows.items():
        prob, size, views, method, mode, i = key.split(":")
        groups.setdefault(f"{prob} {size}² {views} views {method}", {}).setdefault(mode, {})[int(i)] = r
    print("Slices run in both modes only.\n")
    print("| problem | mode | slices | iterations (sum) | seconds (sum) | PSNR median (dB) |")
    print("|---|---|---|---|---|---|")
    for name, modes in sorted(groups.items()):
        common = set(modes.get("independent", {})) & set(modes.get("warm", {}))
        for mode in ("independent", "warm"):
            rs = {i: r for i, r in modes.get(mode, {}).items() if not common or i in common}
            if not rs:
                continue
            ps = [r["psnr"] for r in rs.values() if r["psnr"] is not None]
            print(f"| {name} | {mode} | {len(rs)} | {sum(r['iterations'] for r in rs.values())} | "
                  f"{sum(r['seconds'] for r in rs.values()):.0f} | "
                  f"{np.median(ps):.2f} |" if ps else "- |")
        ind, warm = modes.get("independent", {}), modes.get("warm", {})
        both = sorted(set(ind) & set(warm))
        agree = [psnr(np.asarray(warm[i]["image"]), np.asarray(ind[i]["image"])) for i in both if ind[i].get("image")]
        if agree:
            print(f"| {name} | warm against independent | {len(agree)} | | | {np.median(agree):.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", choices=("sim", "fips"), default="sim")
    ap.add_argument("--mode", choices=("independent", "warm"), default="independent")
    ap.add_argument("--method", default="tv_dip")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--views", type=int, default=30)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    report() if args.report else run(args)


if __name__ == "__main__":
    main()
