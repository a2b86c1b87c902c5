"""Seconds per iteration of today's engine against v0.1.0's, measured in the same run.

v0.1.0's package is unpacked from git (``git archive 673ffb3 tomopy_dip``) into a temporary
directory and imported in a child process; today's package runs in another child process, one
after the other, on the same simulated scan (parallel beam, ``ndet`` = size, 180 views; 640²
with 181 views is the size of TomoPy's tooth). Each child reports the median seconds between
iterations (callback time stamps) of TV-DIP at its defaults. The matrix-multiply peak of this
machine and the network's FLOP per iteration (``torch.utils.flop_counter``) are measured in the
same run, so the table gives the achieved GFLOP/s against the peak. bfloat16 is measured only
on CPUs with bfloat16 matrix units (AMX, AVX512-BF16; emulated elsewhere, 40-65x slower).

    python benchmarks/versus.py --threads 2

Run it alone: another busy process makes every figure several times slower.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import cpu, machine, save
from tomopy_dip.utils import cpu_bfloat16_units

V010 = "673ffb3"
REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, statistics, sys, time, warnings
warnings.simplefilter("ignore")
old = sys.argv[1]
if old != "-":
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
    sys.path.insert(0, old)
import numpy as np, torch
torch.set_num_threads(int(sys.argv[2]))
import tomopy_dip
size, views, iters = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
kw = json.loads(sys.argv[6])
theta = np.linspace(0, np.pi, views, endpoint=False)
sino = np.ones((1, views, size), np.float32)
stamps = []
t0 = time.perf_counter()
tomopy_dip.reconstruct(sino, theta, method="tv_dip", num_iter=iters, progress=False,
                       callback=lambda info: stamps.append(time.perf_counter()), **kw)
print(json.dumps({"tomopy_dip": tomopy_dip.__file__, "sec_per_iter": statistics.median(np.diff(stamps[2:])),
                  "first_iteration": stamps[0] - t0}))
"""


def child(old: str, threads: int, size: int, views: int, iters: int, **kw) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, old, str(threads), str(size), str(views), str(iters),
                          json.dumps(kw)], capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def matmul_peak(threads: int, n: int = 2048, repeat: int = 10) -> float:
    """fp32 GFLOP/s of an ``n x n`` matrix product (the best of three timings)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeat):
            a @ b
        best = max(best, 2 * n**3 * repeat / (time.perf_counter() - t0) / 1e9)
    return best


def network_gflop(size: int) -> float:
    """Forward + backward GFLOP of the default U-Net on one ``size²`` image."""
    from torch.utils.flop_counter import FlopCounterMode

    from tomopy_dip.networks import UNet

    with FlopCounterMode(display=False) as fc:
        UNet()(torch.zeros(1, 1, size, size)).mean().backward()
    return fc.get_total_flops() / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", nargs="+", default=["128:180:30", "256:180:20", "512:180:8", "640:181:6"],
                    help="SIZE:VIEWS:ITERATIONS")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tomopy_dip_v010_"))
    try:
        archive = subprocess.run(["git", "archive", V010, "tomopy_dip"], cwd=REPO, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
        peak = matmul_peak(args.threads)
        units = cpu_bfloat16_units() is not False
        rows = []
        for spec in args.sizes:
            size, views, iters = (int(v) for v in spec.split(":"))
            old = child(str(tmp), args.threads, size, views, iters)
            assert str(tmp) in old["tomopy_dip"], old
            now = child("-", args.threads, size, views, iters)
            # emulated bfloat16 (no AMX / AVX512-BF16 units) ran 40-65x slower: not worth the wait
            bf16 = child("-", args.threads, size, views, iters, precision="bfloat16") if units else None
            gf = network_gflop(size)
            row = {"size": size, "views": views, "gflop_per_iter": gf, "v010": old["sec_per_iter"],
                   "float32": now["sec_per_iter"], "bfloat16": bf16 and bf16["sec_per_iter"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nTV-DIP seconds per iteration, {args.threads} thread(s), fp32 matrix peak {peak:.0f} GFLOP/s "
          f"(same run)\n")
    print(f"CPU: {cpu()}\n")
    print("| image | views | v0.1.0 | now, float32 | speed-up | % of fp32 peak | now, bfloat16 | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        b16 = "– (no bfloat16 units) | –" if r["bfloat16"] is None else \
            f"{r['bfloat16']:.3f} | {r['v010'] / r['bfloat16']:.2f}×"
        print(f"| {r['size']}² | {r['views']} | {r['v010']:.3f} | {r['float32']:.3f} | {r['v010'] / r['float32']:.2f}× | "
              f"{100 * r['gflop_per_iter'] / r['float32'] / peak:.0f} % | {b16} |")
    print(f"\nwritten {save('versus', {'machine': machine(), 'threads': args.threads, 'peak_gflops': peak, 'rows': rows})}")


if __name__ == "__main__":
    main()
