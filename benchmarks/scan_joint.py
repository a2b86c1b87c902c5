"""#37, a road not taken: one network shared by all rows of a scan, fitted to all their data at once.

Instead of a network per row (TV-DIP) or one pretrained on a few seed rows and fine-tuned per row
(the ``auto`` route), a single U-Net with each row's FBP as its input is fitted to the TV-DIP loss
of every row of ``scan.py``'s simulated porous scan (batches of ``--batch`` rows drawn in turn,
Adam, linear warm-up over ``--warmup`` steps), from random weights or from the ``auto`` run's checkpoint
(``--start``). Every minute the median and worst PSNR of all rows' images against the truth are
logged (steps, seconds). Run ``scan.py --stage data`` (and ``--stage auto`` for ``--start``) first.

Usage (alone on the machine)::

    python benchmarks/scan_joint.py --batch 4 --lr 2e-3 --seconds 900 --warmup 0
    python benchmarks/scan_joint.py --batch 4 --lr 1e-4 --seconds 900 --start
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import load, machine, save  # noqa: E402

from tomopy_dip.fitting.losses import total_variation  # noqa: E402
from tomopy_dip.fitting.problem import output_range  # noqa: E402
from tomopy_dip.metrics import psnr  # noqa: E402
from tomopy_dip.networks import UNet, UNetConfig, default_channels, default_skip_channels  # noqa: E402
from tomopy_dip.physics.fbp import fbp  # noqa: E402
from tomopy_dip.physics.geometry import Geometry  # noqa: E402
from tomopy_dip.physics.measurement import data_scale  # noqa: E402
from tomopy_dip.physics.projector import get_operator  # noqa: E402
from tomopy_dip.volume.scan import ScanSource  # noqa: E402

CACHE = ROOT / "benchmarks" / "cache"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--rows", type=int, default=32)
    p.add_argument("--views", type=int, default=60)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--tv-weight", type=float, default=1e-6)
    p.add_argument("--seconds", type=float, default=900)
    p.add_argument("--warmup", type=int, default=100, help="steps of linear learning-rate warm-up (0: none)")
    p.add_argument("--start", action="store_true", help="from the auto run's checkpoint")
    args = p.parse_args()
    name = f"scan_{args.size}_{args.rows}_{args.views}"
    data = ScanSource(str(CACHE / f"{name}.h5")).read(list(range(args.rows)))
    truth = np.load(CACHE / f"{name}_truth.npy")
    op = get_operator(Geometry(data.theta, args.size, center=args.size / 2))
    y = torch.from_numpy(np.ascontiguousarray(data.sinograms))
    rec = fbp(y, op, "hann")
    s = data_scale(rec)
    yn, fn = y / s[:, None, None], rec / s[:, None, None]
    rng = output_range(fn)
    lo, span = rng[:, 0, None, None], (rng[:, 1] - rng[:, 0])[:, None, None]
    torch.manual_seed(0)
    if args.start:
        from tomopy_dip.learning.checkpoints.format import load_file

        ck = load_file(CACHE / f"{name}-auto" / "scan_pretrain.safetensors")
        net = UNet(ck.config)
        net.load_copy_state(ck.state)
    else:
        ch = default_channels((args.size, args.size))
        net = UNet(UNetConfig(channels=ch, skip_channels=default_skip_channels(len(ch), True)))
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda j: min(1.0, (j + 1) / max(1, args.warmup)))

    def images(idx: torch.Tensor) -> torch.Tensor:
        return lo[idx] + span[idx] * net(fn[idx].unsqueeze(1))[:, 0]

    def losses(idx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (op(x) - yn[idx]).pow(2).mean((1, 2)) / args.size**2 + args.tv_weight * total_variation(x) / args.size

    gen = torch.Generator().manual_seed(0)
    order, pos, step, log = torch.randperm(args.rows, generator=gen), 0, 0, []
    t0, next_eval = time.perf_counter(), 0.0
    while True:
        el = time.perf_counter() - t0
        if el >= next_eval or el > args.seconds:
            with torch.no_grad():
                allx = torch.cat([images(torch.arange(i, min(i + 8, args.rows))) for i in range(0, args.rows, 8)])
            ps = [psnr((allx[r] * s[r]).numpy(), truth[r]) for r in range(args.rows)]
            log.append({"seconds": round(el, 1), "steps": step, "median_db": round(float(np.median(ps)), 3),
                        "worst_db": round(float(np.min(ps)), 3)})
            print(log[-1], flush=True)
            next_eval = el + 60
            if el > args.seconds:
                break
        if pos + args.batch > args.rows:
            order, pos = torch.randperm(args.rows, generator=gen), 0
        idx = order[pos:pos + args.batch]
        pos += args.batch
        loss = losses(idx, images(idx)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
    out = load(f"scan_joint_{name}")
    out[f"{'start' if args.start else 'scratch'}_b{args.batch}_lr{args.lr:g}"] = {
        "log": log, "args": vars(args), "machine": machine()}
    save(f"scan_joint_{name}", out)


if __name__ == "__main__":
    main()
