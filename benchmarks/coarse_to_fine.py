"""Coarse-to-fine TV-DIP (#17 item 4): fit a binned problem first, then continue at full size.

The coarse problem is the same scan at half the resolution: the detector binned by 2 and a
``size/2`` grid over the same field of view (:func:`tomopy_dip.data.datasets.load_htc2022` with
``detector_bin=2``); its image is in units per coarse pixel, half of them per fine pixel. Two
ways to continue at full size, against TV-DIP at full size from the start (its defaults, the
stopping rule on):

``transfer``
    The coarse fit uses the full-size network's depth (its coarsest scale is then half as
    large); the full-size fit starts from its weights, with its noise input upsampled
    (nearest neighbour): the U-Net is fully convolutional, so the weights apply at any size.
``residual``
    The full-size network's output is added to the logit of the upsampled coarse image before
    the sigmoid, its output convolution set to zero: the full-size fit starts exactly at the
    coarse image and learns the correction.

Both stages at the defaults (the coarse stage stops by the plateau rule, the full-size stage
too); PSNR against the 720-view SIRT-300 reference every 25 iterations, with the wall time
including the coarse stage.

    python benchmarks/coarse_to_fine.py --phantom ta --views 60 --size 256 --variants baseline transfer --threads 1
    python benchmarks/coarse_to_fine.py --phantom ta --views 60 --size 256 --variants residual --threads 1
    python benchmarks/coarse_to_fine.py --phantom ta --views 60 --size 256 --report
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
import torch.nn.functional as F

import tomopy_dip
from common import classical_table, first_reach, htc_problem, load, machine, psnr, save_rows, tv_baselines, use_shared_data
from tomopy_dip.data.datasets import load_htc2022
from tomopy_dip.fitting.engine import run
from tomopy_dip.fitting.hooks import Hook
from tomopy_dip.methods import get_method
from tomopy_dip.networks import FittedNetwork, default_channels

EVERY = 25


def coarse_fit(phantom: str, views: int, size: int, **kw) -> tuple[np.ndarray, dict, float, int]:
    """TV-DIP on the half-size problem: (image in fine-pixel units, upsampled to ``size``), the
    Reconstruction, seconds, iterations."""
    c = load_htc2022(phantom, views, size // 2, detector_bin=2)
    t0 = time.perf_counter()
    res = tomopy_dip.reconstruct(c["sinogram"], c["theta"], c["center"], method="tv_dip", progress=False,
                                 **c["geometry"], **kw)
    seconds = time.perf_counter() - t0
    img = torch.from_numpy(res.images.reshape(size // 2, size // 2))[None, None]
    up = F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy() / 2
    return up, res, seconds, int(res.iterations_run[0])


def fine_fit(d: dict, method, offset: float, **kw) -> dict:
    """The full-size fit with a PSNR curve; ``offset`` seconds (the coarse stage) are added to
    its time stamps."""
    ref, curve, t0 = d["reference"], [], time.perf_counter()

    def cb(info):
        curve.append((info["iteration"], offset + time.perf_counter() - t0, psnr(info["image"], ref),
                      psnr(info["estimate"], ref)))

    res = run(method, d["sinogram"], d["theta"], d["center"], slice_offset=0, callback=cb, callback_every=EVERY,
              progress=False, **d["geometry"], **kw)
    return {"psnr": psnr(res.images, ref), "iterations": int(res.iterations_run[0]),
            "seconds": offset + time.perf_counter() - t0, "curve": curve}


class _ResidualStart(Hook):
    """The network's output added to a fixed logit before the sigmoid, its output convolution
    zeroed: the fit starts at ``start`` (input units) and learns the correction."""

    start: np.ndarray | None = None

    def setup(self, fit) -> None:
        net = fit.net
        with torch.no_grad():
            net.outc.weight.zero_()
            net.outc.bias.zero_()
        x0 = (torch.from_numpy(self.start) / fit.batch.scale[0]).clamp(1e-3, 1 - 1e-3)
        logit = torch.log(x0 / (1 - x0))[None, None]
        fit.output = lambda inp: torch.sigmoid(logit + net(fit.pack(inp)))[0]


def variant(name: str, phantom: str, views: int, size: int) -> dict:
    d = htc_problem(phantom, views, size)
    tv_dip = get_method("tv_dip")
    if name == "baseline":
        return fine_fit(d, tv_dip, 0.0)
    depth = len(default_channels((size, size)))
    if name == "transfer":
        kw = {"channels": (32,) * depth, "skip_channels": (4,) * depth, "keep_network": True}
        up, res, sec, its = coarse_fit(phantom, views, size, **kw)
        net = res.networks[0]
        z = F.interpolate(net.input[None, None], size=(size, size), mode="nearest")[0, 0]
        out = fine_fit(d, tv_dip, sec, init_network=FittedNetwork(net.config, net.state, z))
    else:
        up, res, sec, its = coarse_fit(phantom, views, size)
        start = type("ResidualStart", (_ResidualStart,), {"start": up.astype(np.float32)})
        out = fine_fit(d, dataclasses.replace(tv_dip, hooks=(start,)), sec, out_activation="none")
    return {**out, "coarse_seconds": sec, "coarse_iterations": its, "coarse_psnr": psnr(up, d["reference"])}


def report(rows: dict, target: float) -> None:
    print(f"\n| variant | coarse stage: s, iterations, PSNR upsampled | full size: iterations | returned PSNR | "
          f"s to TV ({target - 1:.2f}) | s to TV + 1 dB | total s |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        coarse = "–" if "coarse_seconds" not in r else \
            f"{r['coarse_seconds']:.0f}, {r['coarse_iterations']}, {r['coarse_psnr']:.2f}"
        returned = [(it, sec, p) for it, sec, _, p in r["curve"]]  # the image the fit would return
        s_tv, s_tv1 = (first_reach(returned, t)[1] for t in (target - 1, target))
        fmt = lambda v: "never" if v is None else f"{v:.0f}"
        print(f"| {name} | {coarse} | {r['iterations']} | {r['psnr']:.2f} | {fmt(s_tv)} | {fmt(s_tv1)} | "
              f"{r['seconds']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantom", default="ta")
    ap.add_argument("--views", type=int, default=60)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--variants", nargs="+", choices=("baseline", "transfer", "residual"),
                    default=["baseline", "transfer", "residual"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    use_shared_data()
    name = f"coarse_to_fine_{args.phantom}_{args.views}_{args.size}"
    target = tv_baselines(classical_table([args.phantom], args.views, args.size))[args.phantom]["tv_oracle"]["psnr"] + 1
    if not args.report:
        for v in args.variants:
            row = variant(v, args.phantom, args.views, args.size)
            print(f"{v}: {row['psnr']:.2f} dB, {row['seconds']:.0f} s", flush=True)
            save_rows(name, {"machine": machine(), "args": vars(args)}, {v: row})
    report(load(name).get("rows", {}), target)


if __name__ == "__main__":
    main()
