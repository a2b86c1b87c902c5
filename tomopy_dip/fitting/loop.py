"""The fitting loop: Adam on the method's loss terms, with its hooks and selection rule.

Everything a method changes is an object it declares (:mod:`~tomopy_dip.fitting.losses`,
:mod:`~tomopy_dip.fitting.hooks`, :mod:`~tomopy_dip.fitting.selection`); this loop only
steps, records and reports.

Before every iteration the loop checks the process-wide stop request
(:mod:`~tomopy_dip.fitting.interrupt`, set by Ctrl-C during a fit): the fit then ends with the
stop reason ``"interrupted"`` and returns its selected iterate, as after a
:class:`KeyboardInterrupt` raised inside the loop (Ctrl-C without the package's handler, which
then also requests a stop for the other fits, or a callback raising it). A
:class:`KeyboardInterrupt` while a stop is already requested is the second Ctrl-C: it is raised
on, aborting the call.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from tomopy_dip.data.history import history_columns, history_terms
from tomopy_dip.fitting import interrupt
from tomopy_dip.fitting.backtrack import Backtracking
from tomopy_dip.fitting.hooks import Fit
from tomopy_dip.fitting.problem import SliceBatch, slice_seed
from tomopy_dip.fitting.selection import SELECTORS
from tomopy_dip.fitting.stopping import STOPPERS
from tomopy_dip.fitting.uncertainty import ESTIMATORS, Estimator
from tomopy_dip.networks import FittedNetwork, UNet

__all__ = ["fit_batch"]

log = logging.getLogger(__name__)


class _StopRequested(Exception):
    """The stop request (:mod:`~tomopy_dip.fitting.interrupt`) was seen before an iteration."""


def _make_network(method: Any, options: Any, batch: SliceBatch, seeds: Sequence[int], start: Any):
    """The networks of a batch, one copy per slice seeded from the slice; ``start`` is a
    pretrained ``(UNetConfig, state dict)`` or None."""
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    config = start[0] if start is not None else options.network(batch.geoms[0].shape_image)
    # 2-D: one copy per slice; 3-D: one network for the slab, seeded by its first slice
    net = UNet(config, batch.B, gens) if config.dims == 2 else UNet(config, 1, gens[:1])
    if start is not None:
        net.load_copy_state(start[1])
    return net.to(options.device), gens


def _ranges(ids: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"`` (progress-bar labels)."""
    out, start, prev = [], None, None
    for i in list(ids) + [None]:
        if start is not None and (i is None or i != prev + 1):
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = None
        if start is None and i is not None:
            start = i
        prev = i
    return ",".join(out)


class _History(dict):
    """Per-iteration records ``(n, B)`` float32 that grow with the fit (doubling), so that a
    large ``num_iter`` cap costs no memory until the iterations are run."""

    def __init__(self, keys: Sequence[str], width: int, start: int = 1024) -> None:
        super().__init__({k: np.full((start, width), np.nan, np.float32) for k in keys})

    def reserve(self, n: int) -> None:
        for k, v in self.items():
            if v.shape[0] < n:
                grown = np.full((max(n, 2 * v.shape[0]), v.shape[1]), np.nan, np.float32)
                grown[: v.shape[0]] = v
                self[k] = grown


def _report(options: Any, fit: Fit, selector: Any, hist: dict, scale: torch.Tensor) -> None:
    """Call ``options.callback`` once per slice with the iterate and the current estimate."""
    x = fit.x.detach()
    imgs = (x * scale).cpu().numpy()
    est_t = selector.estimate(x)
    est = imgs if est_t is x else (est_t * scale).cpu().numpy()
    for b, slice_id in enumerate(fit.slice_ids):
        img = imgs[b]  # the same object as "estimate" when select="last"
        options.callback({"slice": int(slice_id), "iteration": fit.k, "loss": float(hist["loss"][fit.k, b]),
                          "image": img, "estimate": img if est is imgs else est[b]})


def fit_batch(method: Any, options: Any, sino: np.ndarray, geoms: Sequence[Any],
              slice_ids: Sequence[int], start: Any = None) -> dict[str, Any]:
    """Fit ``method`` to a batch of slices; returns images (input units), history, iterations."""
    batch = SliceBatch(sino, geoms, options)
    seeds = [slice_seed(options.seed, sino[i], g) for i, g in enumerate(geoms)]
    net, gens = _make_network(method, options, batch, seeds, start)
    z = batch.network_input(options.network_input, gens)
    carried = getattr(start, "input", None)
    if options.network_input == "noise" and carried is not None and tuple(carried.shape) == tuple(z.shape[-2:]):
        z = carried.to(z).expand_as(z).clone()  # a fitted network continues from its own input
    fit = Fit(net, z, batch, options, slice_ids)
    hooks = [h(options) for h in method.hooks]
    for hook in hooks:
        hook.setup(fit)
    terms = [t(options, batch) for t in method.losses]
    selector = SELECTORS[options.select](batch, options)
    stopper = STOPPERS[options.stop](options, batch)
    stopper.share(selector)
    estimator = ESTIMATORS[options.uncertainty](batch, options) if options.uncertainty else Estimator(batch)
    opt = torch.optim.Adam(fit.params, lr=options.lr)
    # Linear warm-up: iteration k (from 0) uses lr * (k + 1) / lr_warmup. Adam's first updates
    # are about lr in every weight whatever the gradient; a pretrained network loses its start.
    warm = options.lr_warmup
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda j: min(1.0, (j + 1) / warm)) if warm > 1 else None
    guard = Backtracking(options, fit.params, opt, sched, fit=fit)
    n_iter, B = options.num_iter, batch.B
    hist = _History(history_columns(), B)
    recorded = history_terms()
    scale = batch.scale[:, None, None]
    t0, interrupted, n_done, reason = time.perf_counter(), False, 0, "num_iter"
    bar = tqdm(total=n_iter, disable=not options.progress, leave=False, dynamic_ncols=True,
               desc=f"{method.name} slice{'s' if B > 1 else ''} {_ranges(slice_ids)}")
    try:
        for k in range(n_iter):
            if interrupt.requested():
                raise _StopRequested
            fit.k = k
            for hook in hooks:
                hook.before_step(fit, k)
            fit.x = fit.forward(fit.z)
            values = {t.name: t.value(fit) for t in terms}
            loss = values[terms[0].name]
            for t in terms[1:]:
                loss = loss + t.weight * values[t.name]
            lv = loss.detach()
            if not guard.check(k, float(lv.sum())):  # a spike sets the fit back instead of stepping
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                if options.clip_grad > 0:
                    norms = net.per_model_grad_norm(fit.params)
                    net.scale_grads(fit.params, torch.clamp(options.clip_grad / (norms + 1e-12), max=1.0))
                opt.step()
                if sched is not None:
                    sched.step()
            hist.reserve(k + 1)
            hist["loss"][k] = lv.cpu().numpy()
            if not np.isfinite(hist["loss"][k]).all():
                n_done, reason = k + 1, "diverged"
                break
            for key in recorded:
                hist[key][k] = values[key].detach().cpu().numpy() if key in values else 0.0
            with torch.no_grad():
                selector.update(k, fit.x.detach(), lv, hist)
                estimator.update(k, fit.x.detach())
                done = stopper.update(k, fit.x.detach(), float(hist["loss"][k].sum()))
            hist["seconds"][k] = time.perf_counter() - t0
            n_done = k + 1
            last = done or k == n_iter - 1
            if options.callback is not None and (k % options.callback_every == 0 or last):
                _report(options, fit, selector, hist, scale)
            if k % 10 == 0 or last:
                bar.set_postfix(loss=f"{float(lv.mean()):.3e}", refresh=False)
            bar.update(1)
            if done:
                reason = "converged"
                break
    except (_StopRequested, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt):
            if interrupt.requested():
                raise  # Ctrl-C while a stop is requested: abort
            if not interrupt.installed():
                interrupt.request()  # Ctrl-C without the package's handler: stop the other fits too
        interrupted, reason = True, "interrupted"
        log.warning("slice(s) %s interrupted after %d iteration(s): returning the %s image so far",
                    _ranges(slice_ids), n_done, options.select)
    finally:
        bar.close()
    fit.n_done = n_done
    selector.finish(fit, reason)
    return {
        "images": (selector.image * scale).cpu().numpy().astype(np.float32),
        "history": {key: v[:n_done] for key, v in hist.items()},
        "iteration": selector.iteration,
        "uncertainty": torch.nan_to_num(estimator.sigma(selector.image) * scale).clamp_min(0).cpu().numpy()
        .astype(np.float32) if options.uncertainty else None,
        "scale": batch.scale.cpu().numpy(),
        "interrupted": interrupted,
        "stop_reason": reason,
        "output_range": (batch.output_range * batch.scale[:, None]).cpu().numpy(),
        "network": FittedNetwork(net.config, net.copy_state(0), fit.z[0, 0].detach().cpu().clone()
                                 if options.network_input == "noise" and net.config.dims == 2 else None)
        if options.keep_network else None,
    }
