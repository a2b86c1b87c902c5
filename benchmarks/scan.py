"""A whole scan: ``tomopy-dip recon scan.h5`` (the default, ``auto``) against per-row TV-DIP.

A simulated coherent sample (``common.porous_volume``: a cylinder with pores and grains that run
over several rows; parallel beam over 180°, Poisson noise on 10^4 counts) is written as a Data
Exchange file (raw counts, flats, darks, angles in degrees) into ``benchmarks/cache``. Each
stage runs the command line in a child process with ``--threads`` torch threads:

- ``--stage data``: write the file and its truth;
- ``--stage auto``: every row through ``tomopy-dip recon FILE`` (no method named: the route the
  plan states), wall time of the whole command;
- ``--stage tv_dip``: per-row TV-DIP at its defaults on the rows ``--tv-rows A:B:S`` (default
  every ``--every``-th); the seed rows of the ``auto`` run are per-row TV-DIP fits at the same
  defaults too, and the report counts them as such. The wall time of per-row TV-DIP over all
  rows is projected from the mean seconds per row of these fits (the rows are alike in cost);
- ``--report``: the table.

PSNR of each row against its truth (scaled as the reconstruction estimates it, data range of the
truth), inside the sample's disc and the whole grid alike; FBP's beside. The projected hours of
a 2048-row scan of the same rows take the measured parts: seeds (``seed_count(2048) + 1`` rows
at TV-DIP's seconds per row), the pretraining once, and the other rows at the route's seconds per
row; every part scales alike with the image size, so the ratio is that of a 2048² scan too
(the hours quoted are at the measured size).

Usage (side by side, one thread each, alone on the machine otherwise)::

    python benchmarks/scan.py --stage data --size 256 --rows 32
    python benchmarks/scan.py --stage auto --size 256 --rows 32 --threads 1 &
    python benchmarks/scan.py --stage tv_dip --size 256 --rows 32 --every 4 --threads 1
    python benchmarks/scan.py --report --size 256 --rows 32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import RESULTS, load, machine, porous_volume, save, write_exchange  # noqa: E402

CACHE = ROOT / "benchmarks" / "cache"


def _name(args: argparse.Namespace) -> str:
    return f"scan_{args.size}_{args.rows}_{args.views}"


def _files(args: argparse.Namespace) -> tuple[Path, Path]:
    return CACHE / f"{_name(args)}.h5", CACHE / f"{_name(args)}_truth.npy"


def stage_data(args: argparse.Namespace) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    scan, truth = _files(args)
    vol = porous_volume(args.size, args.rows, seed=args.seed)
    write_exchange(scan, vol, args.views, seed=args.seed)
    np.save(truth, vol * (2.0 / args.size))
    print(f"wrote {scan.name}: {args.rows} rows of {args.size}², {args.views} views")


def _psnr_rows(out: Path, rows: list[int], truth: np.ndarray) -> dict[int, float]:
    import tifffile

    from tomopy_dip.metrics import psnr

    return {r: round(psnr(tifffile.imread(out / f"recon_{r:05d}.tiff"), truth[r]), 3) for r in rows
            if (out / f"recon_{r:05d}.tiff").exists()}


def _fbp_psnr(scan: Path, rows: list[int], truth: np.ndarray, size: int) -> dict[int, float]:
    import torch

    from tomopy_dip.metrics import psnr
    from tomopy_dip.physics.fbp import fbp
    from tomopy_dip.physics.geometry import Geometry
    from tomopy_dip.physics.projector import get_operator
    from tomopy_dip.volume.scan import ScanSource

    data = ScanSource(str(scan)).read(rows)
    op = get_operator(Geometry(data.theta, size, center=size / 2))
    images = fbp(torch.from_numpy(np.ascontiguousarray(data.sinograms)), op, "hann").numpy()
    return {r: round(psnr(images[i], truth[r]), 3) for i, r in enumerate(rows)}


def stage_run(args: argparse.Namespace, mode: str) -> None:
    scan, truth_file = _files(args)
    truth = np.load(truth_file)
    out = CACHE / f"{_name(args)}-{mode}"
    cmd = [sys.executable, "-m", "tomopy_dip", "recon", str(scan), "--center", str(args.size / 2),
           "--threads", str(args.threads), "--out", str(out), "--overwrite", "-q"]
    rows = list(range(args.rows))
    if mode == "tv_dip":
        a, b, step = (int(v) for v in (args.tv_rows or f"{args.every // 2}:{args.rows}:{args.every}").split(":"))
        rows = rows[a:b:step]
        cmd += ["-a", "tv_dip", "--slices", f"{a}:{b}:{step}"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(args.threads))
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{r.stdout}\n{r.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    slices = summary["slices"]
    result = {
        "wall_s": round(wall, 1), "seconds": summary["seconds"], "rows": rows,
        "psnr": _psnr_rows(out, rows, truth),
        "row_seconds": {r: slices[str(r)]["seconds"] for r in rows},
        "row_iterations": {r: slices[str(r)]["iterations"] for r in rows},
        "row_method": {r: slices[str(r)].get("method") for r in rows},
        "route": summary.get("route"), "scan_pretrain": summary.get("scan_pretrain"),
        "fallback": summary.get("fallback"), "plan": summary["plan"],
        "machine": machine(), "threads": args.threads,
        "command": " ".join(cmd[1:]).replace(f"{ROOT}/", ""),  # relative to the repository
    }
    data = load(_name(args))
    data[mode] = result
    if "fbp" not in data:
        data["fbp"] = _fbp_psnr(scan, list(range(args.rows)), truth, args.size)
    save(_name(args), data)
    print(f"{mode}: {len(rows)} rows in {wall:.0f} s; PSNR median {np.median(list(result['psnr'].values())):.2f} dB")


def report(args: argparse.Namespace) -> None:
    from tomopy_dip.volume.route import seed_count

    data = load(_name(args))
    auto, tv = data.get("auto"), data.get("tv_dip") or {"psnr": {}, "row_seconds": {}}
    if not auto:
        print("run --stage auto first (and --stage tv_dip for TV-DIP on rows that are not seeds)")
        return
    a_psnr = {int(r): v for r, v in auto["psnr"].items()}
    a_sec = {int(r): v for r, v in auto["row_seconds"].items()}
    a_its = {int(r): v for r, v in auto["row_iterations"].items()}
    methods = {int(r): m for r, m in auto["row_method"].items()}
    seeds = [r for r, m in methods.items() if m == "tv_dip"]
    others = [r for r in methods if r not in seeds]
    # per-row TV-DIP at its defaults: the rows of --stage tv_dip and the auto run's seed rows
    t_psnr = {**{r: a_psnr[r] for r in seeds}, **{int(r): v for r, v in tv["psnr"].items()}}
    t_sec = {**{r: a_sec[r] for r in seeds}, **{int(r): v for r, v in tv["row_seconds"].items()}}
    common = sorted(int(r) for r in tv["psnr"])
    tv_row_s = float(np.mean(list(t_sec.values())))
    tv_wall = tv_row_s * args.rows  # projected: every row by TV-DIP
    fbp = {int(r): v for r, v in data["fbp"].items()}
    row_s = float(np.mean([a_sec[r] for r in others])) if others else tv_row_s
    pretrain_s = float(auto["seconds"].get("scan_pretrain", 0.0))
    n = 2048
    s2048 = seed_count(n) + 1
    auto_2048 = s2048 * tv_row_s + pretrain_s + (n - s2048) * row_s
    print(f"### Whole scan, {args.rows} rows at {args.size}², {args.views} views ({auto['machine']['cpu']}, "
          f"{auto['threads']} thread(s) per process)\n")
    print("| run | wall time | rows/h | PSNR median (dB) | worst | on TV-DIP's rows: median / worst |")
    print("|---|---|---|---|---|---|")
    a_common = [a_psnr[r] for r in common] or [float("nan")]
    print(f"| `tomopy-dip recon` (auto: {auto['route']['route'] if auto['route'] else '?'}) | {auto['wall_s']:.0f} s | "
          f"{3600 * args.rows / auto['wall_s']:.0f} | {np.median(list(a_psnr.values())):.2f} | "
          f"{min(a_psnr.values()):.2f} | {np.median(a_common):.2f} / {min(a_common):.2f} |")
    print(f"| per-row TV-DIP, defaults ({len(t_psnr)} rows fitted: {sorted(t_psnr)}; {args.rows} projected) | "
          f"{tv_wall:.0f} s (projected) | {3600 / tv_row_s:.0f} | "
          f"{np.median(list(t_psnr.values())):.2f} | {min(t_psnr.values()):.2f} | same |")
    print(f"| FBP (Hann) | | | {np.median(list(fbp.values())):.2f} | {min(fbp.values()):.2f} | |")
    print(f"\nSpeed-up {tv_wall / auto['wall_s']:.2f}x on {args.rows} rows; seeds {sorted(seeds)}, pretraining "
          f"{pretrain_s:.0f} s, other rows {row_s:.1f} s each (TV-DIP {tv_row_s:.0f} s), "
          f"iterations {min((a_its[r] for r in others), default=0)}-{max((a_its[r] for r in others), default=0)}; "
          f"check: {(auto.get('scan_pretrain') or {}).get('check')}")
    print(f"2048 rows projected: per-row TV-DIP {n * tv_row_s / 3600:.1f} h, auto {auto_2048 / 3600:.1f} h "
          f"({s2048} seeds, the pretraining once, {n - s2048} rows): {n * tv_row_s / auto_2048:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=["data", "auto", "tv_dip"])
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--views", type=int, default=60)
    ap.add_argument("--every", type=int, default=4, help="per-row TV-DIP on every K-th row")
    ap.add_argument("--tv-rows", default=None, metavar="A:B:S", help="per-row TV-DIP on these rows instead")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.stage == "data":
        stage_data(args)
    elif args.stage in ("auto", "tv_dip"):
        stage_run(args, args.stage)
    if args.report:
        report(args)


if __name__ == "__main__":
    main()
