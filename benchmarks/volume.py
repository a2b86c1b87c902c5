"""Volumes: slices per hour through ``tomopy-dip recon`` serial and on Dask, and peak memory
against the plan's estimate.

A simulated stack (``common.drifting_stack``: random ellipses that drift from row to row; 180
parallel views; Poisson noise on 10^4 counts) is written as a Data Exchange file (raw counts, flats, darks, theta in
degrees) into a temporary directory; each mode runs the command line in a child process:

- ``serial``: one process, 2 torch threads;
- ``local:2``: ``--scheduler local:2`` (2 single-threaded Dask worker processes).

Every fit runs a fixed ``--num-iter`` without the stopping rule (``--stop none``), so the modes
do the same work; slices per hour are quoted at that cap and projected to a 2048-slice scan at
``--typical-iterations`` per slice (the stopping rule's median on HTC-60 at 256²: about 1300).
The serial run's peak resident memory (``ru_maxrss`` of its process) is compared with the
plan's estimate written in ``summary.json``.

Usage::

    python benchmarks/volume.py --size 256 --rows 32 --num-iter 100
    python benchmarks/volume.py --size 512 --rows 8 --num-iter 50
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import drifting_stack, machine, save_rows, write_exchange  # noqa: E402

_CHILD = """
import resource, sys
from tomopy_dip.cli import main
code = main(sys.argv[1:])
print("MAXRSS_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
sys.exit(code)
"""


def write_stack(path: Path, size: int, rows: int, views: int, seed: int = 0) -> Path:
    """A drifting-ellipse stack as raw detector counts in a Data Exchange file."""
    return write_exchange(path, drifting_stack(size, rows, seed), views, seed=seed)


def run_mode(scan: Path, out: Path, mode: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-c", _CHILD, "recon", str(scan), "-a", args.method, "--center", str(args.size / 2),
           "--num-iter", str(args.num_iter), "--stop", "none", "--rows-per-task", str(args.rows_per_task),
           "--out", str(out), "-q"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if mode == "serial":
        cmd += ["--threads", "2"]
    else:
        cmd += ["--scheduler", mode]
        env["OMP_NUM_THREADS"] = "1"
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{r.stdout}\n{r.stderr}")
    rss = next(int(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("MAXRSS_KIB")) * 1024
    summary = json.loads((out / "summary.json").read_text())
    per_slice = [s["seconds"] for s in summary["slices"].values() if s.get("status") == "done"]
    return {"wall_s": wall, "reconstruct_s": summary["seconds"]["reconstruct"], "slices": summary["done"],
            "median_slice_s": float(np.median(per_slice)), "peak_rss_bytes": rss,
            "plan_bytes": summary["plan"]["memory_bytes"], "plan_text": summary["plan"]["memory_text"],
            "plan_s_per_iteration": summary["plan"]["seconds_per_iteration"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--views", type=int, default=180)
    ap.add_argument("--num-iter", type=int, default=100)
    ap.add_argument("--typical-iterations", type=int, default=1300)
    ap.add_argument("--rows-per-task", type=int, default=4)
    ap.add_argument("--method", default="tv_dip")
    ap.add_argument("--modes", nargs="+", default=["serial", "local:2"])
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        scan = write_stack(Path(tmp) / "stack.h5", args.size, args.rows, args.views)
        stacks = {}
        for mode in args.modes:
            out = Path(tmp) / mode.replace(":", "-")
            res = run_mode(scan, out, mode, args)
            per_hour = 3600 * res["slices"] / res["reconstruct_s"]
            scan_h = 2048 / per_hour * args.typical_iterations / args.num_iter
            res.update(slices_per_hour=per_hour, projected_2048_h=scan_h)
            rows[f"{args.size}:{mode}"] = res
            import tifffile

            stacks[mode] = np.stack([tifffile.imread(out / f"recon_{r:05d}.tiff") for r in range(args.rows)])
            print(f"{args.size}² {mode}: {res['slices']} slices in {res['reconstruct_s']:.0f} s = "
                  f"{per_hour:.0f} slices/h at {args.num_iter} iterations; 2048 slices at "
                  f"{args.typical_iterations} iterations: {scan_h:.0f} h; peak {res['peak_rss_bytes'] / 2**30:.2f} GiB, "
                  f"plan {res['plan_bytes'] / 2**30 if res['plan_bytes'] else float('nan'):.2f} GiB", flush=True)
        if len(stacks) > 1:
            ref = next(iter(stacks.values()))
            same = {m: bool(np.array_equal(ref, s)) for m, s in stacks.items()}
            print("identical stacks (serial uses 2 torch threads, Dask workers 1):", same)
            rows[f"{args.size}:identical"] = same
    save_rows("volume", {"machine": machine()}, rows)


if __name__ == "__main__":
    main()
