"""The training loop of pretraining: data, validation, checkpoints, resumable state."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from tomopy_dip.learning.checkpoints import save_checkpoint
from tomopy_dip.learning.phantoms import ImageFamily, sample_rng
from tomopy_dip.learning.pretraining.data import simulate_pairs
from tomopy_dip.learning.pretraining.state import (
    _STATE_EVERY_SECONDS, _DeferInterrupt, read_state, state_path, write_state,
)
from tomopy_dip.metrics import psnr_batch
from tomopy_dip.networks import UNet, UNetConfig
from tomopy_dip.physics.projector import get_operator

log = logging.getLogger(__name__)


@dataclass
class _Trainer:
    """One pretraining run, set up by :func:`tomopy_dip.learning.pretraining.pretrain`."""

    geoms: list
    config: UNetConfig
    device: torch.device
    backend: str
    out: Path
    num_steps: int
    batch_size: int
    lr_max: float
    weight_decay: float
    val_size: int
    val_every: int
    checkpoint_every: int
    seed: int
    noise: tuple[float, float]
    filter_name: str
    phantoms: str | ImageFamily
    level: tuple[float, float] | None
    blur: tuple[float, float] | None
    slab: int | None
    resume: bool
    progress: bool
    callback: Callable[[dict], Any] | None
    signature: dict
    metadata_base: dict

    def __post_init__(self) -> None:
        self.state_file = state_path(self.out)
        self.ops = [get_operator(g, self.backend) for g in self.geoms]  # held: the shared cache is small

    # -- data -------------------------------------------------------------------------
    def _pairs(self, gi: int, indices: Sequence[int], stream: str) -> dict:
        return simulate_pairs(self.ops[gi], self.seed, indices, stream, self.noise, self.filter_name,
                              self.device, self.phantoms, self.level, self.blur, self.slab)

    def train_batch(self, step: int) -> dict:
        gi = 0 if len(self.ops) == 1 else int(sample_rng(self.seed, step, "geometry").integers(len(self.ops)))
        idx = range(step * self.batch_size, (step + 1) * self.batch_size)
        return self._pairs(gi, idx, "train")

    def _validation_set(self) -> list[dict]:
        sets = []
        for gi in range(len(self.ops)):
            idx = [i for i in range(self.val_size) if i % len(self.ops) == gi]
            for k in range(0, len(idx), self.batch_size):
                sets.append(self._pairs(gi, idx[k:k + self.batch_size], "validation"))
        return sets

    def validate(self, net: UNet) -> float:
        vals = []
        with torch.no_grad():
            for b in self.val_set:
                vals.append(psnr_batch(net(b["input"]), b["target"]))
        return float(torch.cat(vals).mean())

    # -- files ------------------------------------------------------------------------
    def _metadata(self, kind: str, step: int, val_psnr: float | None) -> dict:
        meta = dict(self.metadata_base)
        meta["training"] = {
            "kind": kind, "steps": step, "num_steps": self.num_steps, "batch_size": self.batch_size,
            "samples_seen": step * self.batch_size, "optimizer": "Adam",
            "lr_max": self.lr_max, "weight_decay": self.weight_decay, "schedule": "OneCycleLR",
            "loss": "MSE", "val_size": self.val_size, "val_psnr": val_psnr,
            "val_psnr_fbp": self.val_fbp, "best_step": self.best_step, "best_val_psnr": self.best,
            "seconds": round(self.seconds(), 1),
            "seconds_per_step": round((time.perf_counter() - self.t0) / (step - self.start_step), 4)
            if step > self.start_step else None,
            "device": str(self.device), "threads": torch.get_num_threads(),
        }
        return meta

    def seconds(self) -> float:
        return self.seconds_before + (time.perf_counter() - self.t0)

    def save_state(self, step: int) -> None:
        write_state(self.state_file, self.signature, step=step, model=self.net.copy_state(0),
                    optimizer=self.opt.state_dict(), scheduler=self.sched.state_dict(), best_psnr=self.best,
                    best_step=self.best_step, history=self.history, seconds=self.seconds())
        self.last_state_save = time.perf_counter()

    def _load_state(self) -> dict | None:
        if not (self.resume and self.state_file.is_file()):
            return None
        return read_state(self.state_file, self.signature)

    # -- loop -------------------------------------------------------------------------
    def run(self) -> Path:
        cfg, dev = self.config, self.device
        self.net = UNet(cfg, 1, [torch.Generator().manual_seed(self.seed)]).to(dev)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.lr_max, weight_decay=self.weight_decay)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=self.lr_max,
                                                         total_steps=self.num_steps)
        self.best, self.best_step = -math.inf, 0
        self.history: dict[str, list] = {"step": [], "loss": [], "val_step": [], "val_psnr": []}
        self.start_step, self.seconds_before = 0, 0.0
        st = self._load_state()
        if st is not None:
            self.net.load_copy_state(st["model"])
            self.opt.load_state_dict(st["optimizer"])
            self.sched.load_state_dict(st["scheduler"])
            self.start_step, self.best, self.best_step = int(st["step"]), float(st["best_psnr"]), int(st["best_step"])
            self.history = {k: list(v) for k, v in st["history"].items()}
            self.seconds_before = float(st["seconds"])
            log.info("resuming %s at step %d of %d", self.out, self.start_step, self.num_steps)
            if self.start_step >= self.num_steps and self.out.is_file():
                log.info("%s: pretraining already complete", self.out)
                return self.out
        self.t0 = self.last_state_save = time.perf_counter()
        self.val_set = self._validation_set()
        self.val_fbp = float(torch.cat([psnr_batch(b["input"], b["target"]) for b in self.val_set]).mean())
        width = len(str(self.num_steps))
        done = self.start_step
        bar = tqdm(total=self.num_steps, initial=done, disable=not self.progress, dynamic_ncols=True,
                   desc=f"pretrain {self.out.name}")
        recent: list[float] = []
        val = None
        interrupt = _DeferInterrupt()
        try:
            with interrupt:
                for step in range(self.start_step, self.num_steps):
                    batch = self.train_batch(step)
                    out = self.net(batch["input"])
                    loss = (out - batch["target"]).pow(2).mean()
                    self.opt.zero_grad(set_to_none=True)
                    loss.backward()
                    self.opt.step()
                    self.sched.step()
                    done = step + 1
                    lv = float(loss.detach())
                    if not math.isfinite(lv):
                        raise FloatingPointError(
                            f"the training loss became {lv} at step {done}; lower lr_max (the last "
                            f"good state is in {self.state_file})")
                    recent = (recent + [lv])[-50:]
                    self.history["step"].append(done)
                    self.history["loss"].append(lv)
                    val = None
                    save = False
                    if done % self.val_every == 0 or done == self.num_steps:
                        val = self.validate(self.net)
                        self.history["val_step"].append(done)
                        self.history["val_psnr"].append(val)
                        if val > self.best:
                            self.best, self.best_step = val, done
                            save_checkpoint(self.out, self.net.copy_state(0), cfg,
                                            self._metadata("best", done, val))
                        save = True
                    if self.checkpoint_every and done % self.checkpoint_every == 0:
                        path = self.out.with_name(f"{self.out.stem}-step{done:0{width}d}{self.out.suffix}")
                        save_checkpoint(path, self.net.copy_state(0), cfg, self._metadata("periodic", done, val))
                        save = True
                    if save or done == self.num_steps or \
                            time.perf_counter() - self.last_state_save > _STATE_EVERY_SECONDS:
                        self.save_state(done)
                    post = {"loss": f"{np.mean(recent):.3e}", "lr": f"{self.sched.get_last_lr()[0]:.1e}"}
                    if self.history["val_psnr"]:
                        post["val"] = f"{self.history['val_psnr'][-1]:.2f}dB"
                        post["best"] = f"{self.best:.2f}dB"
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                    if self.callback is not None:
                        self.callback({"step": done, "loss": lv, "lr": self.sched.get_last_lr()[0],
                                       "val_psnr": val})
                    if interrupt.requested:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            if interrupt.aborted:
                log.warning("pretraining aborted; the last saved state (if any) is in %s", self.state_file)
                raise
            self.save_state(done)
            log.warning("pretraining interrupted after step %d of %d; state saved to %s: run the "
                        "same command again to resume", done, self.num_steps, self.state_file)
            raise
        finally:
            bar.close()
        if not self.out.is_file():  # validation never gave a finite PSNR: keep the last network
            save_checkpoint(self.out, self.net.copy_state(0), cfg, self._metadata("last", done, val))
        log.info("pretraining done: best validation PSNR %.2f dB at step %d (FBP %.2f dB), %s",
                 self.best, self.best_step, self.val_fbp, self.out)
        return self.out
