"""Speed and memory of the fitting engine and the projector backends.

* seconds per iteration of the default network at 128², 256², 512² (parallel beam, ``ndet`` =
  size, 180 views over 180°; HTC-60 fan beam at 256²), and the share of an iteration spent in
  the projector (forward + adjoint);
* projector forward+adjoint throughput of both backends against ASTRA's own CPU calls;
* peak resident memory of a 512² slice with 720 views (run in a child process).

All medians over repeats, in one process, on ``--threads`` torch threads.

    python benchmarks/speed.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from common import machine, save, use_shared_data

import tomopy_dip
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.physics.projector import RayTransform


def _median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def iteration_cost(size: int, repeat: int, geometry: Geometry | None = None) -> dict:
    """Median seconds of an engine iteration and of the projector's part in it."""
    g = geometry or Geometry(np.linspace(0, np.pi, 180, endpoint=False), size)
    sino = np.zeros((1, *g.shape_sino), np.float32)
    # time whole iterations through the public API (includes everything the engine does)
    stamps = []
    tomopy_dip.reconstruct(sino + 1.0, g.theta, g.center, method="dip", num_iter=repeat + 2,
                           progress=False, beam=g.beam, num_gridx=g.num_gridx, num_gridy=g.num_gridy,
                           source_origin=g.source_origin, origin_detector=g.origin_detector,
                           detector_spacing=g.detector_spacing,
                           callback=lambda info: stamps.append(time.perf_counter()))
    per_iter = statistics.median(np.diff(stamps[2:]))
    op = tomopy_dip.get_operator(g)
    x = torch.rand((1, *g.shape_image), requires_grad=True)

    def proj():
        y = op(x)
        y.sum().backward()

    t_proj = _median_time(proj, repeat)
    return {"size": f"{g.num_gridx}x{g.num_gridy}", "beam": g.beam, "nproj": g.nproj,
            "backend": op.backend, "sec_per_iter": per_iter, "projector_sec": t_proj,
            "projector_share": t_proj / per_iter}


def projector_throughput(g: Geometry, repeat: int, batch: int = 8) -> dict:
    """Forward+adjoint seconds per slice: matrix and astra backends vs ASTRA's own calls."""
    import astra

    out = {"geometry": f"{g.beam} {g.nproj} views, {g.num_gridx}²"}
    x = torch.rand((batch, *g.shape_image))
    for backend in ("matrix", "astra"):
        op = RayTransform(g, backend=backend)
        out[f"{backend}_sec_per_slice"] = _median_time(lambda: op.adjoint(op(x)), repeat) / batch
    pid = astra.create_projector(g.projector, g.astra_proj_geom(), g.astra_vol_geom())
    xn = x.numpy()

    def native():
        for b in range(batch):
            sid, s = astra.create_sino(xn[b], pid)
            bid, _ = astra.create_backprojection(s, pid)
            astra.data2d.delete([sid, bid])

    out["astra_native_sec_per_slice"] = _median_time(native, repeat) / batch
    astra.projector.delete(pid)
    out["matrix_speedup_vs_astra_native"] = out["astra_native_sec_per_slice"] / out["matrix_sec_per_slice"]
    return out


def peak_memory_child(size: int, views: int, iters: int) -> None:
    g = Geometry(np.linspace(0, np.pi, views, endpoint=False), size)
    sino = np.ones((1, *g.shape_sino), np.float32)
    t0 = time.perf_counter()
    res = tomopy_dip.reconstruct(sino, g.theta, method="tv_dip", num_iter=iters, progress=False)
    op = tomopy_dip.get_operator(g)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"size": size, "views": views, "backend": op.backend, "iterations": iters,
                      "seconds": time.perf_counter() - t0, "peak_rss_bytes": rss,
                      "finite": bool(np.isfinite(res.images).all())}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--child-memory", nargs=3, type=int, metavar=("SIZE", "VIEWS", "ITERS"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    use_shared_data()
    if args.child_memory:
        peak_memory_child(*args.child_memory)
        return
    result = {"machine": machine(), "iterations": [], "projector": []}
    for size in args.sizes:
        row = iteration_cost(size, args.repeat)
        result["iterations"].append(row)
        print(json.dumps(row), flush=True)
    from tomopy_dip.data.datasets import load_htc2022

    d = load_htc2022("ta", 60, 256)
    g_htc = Geometry(d["theta"], d["sinogram"].shape[1], center=d["center"], **d["geometry"])
    row = iteration_cost(256, args.repeat, g_htc)
    result["iterations"].append(row)
    print(json.dumps(row), flush=True)
    for g in (g_htc, Geometry(np.linspace(0, np.pi, 180, endpoint=False), 256)):
        row = projector_throughput(g, args.repeat)
        result["projector"].append(row)
        print(json.dumps(row), flush=True)
    out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--child-memory",
                          "512", "720", "3"], capture_output=True, text=True, check=True)
    result["memory_512_720"] = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result["memory_512_720"]), flush=True)
    print(f"written {save('speed', result)}")


if __name__ == "__main__":
    main()
