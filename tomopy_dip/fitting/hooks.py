"""Method hooks: what a method changes in the fit, as small objects.

A method lists its hooks (:attr:`tomopy_dip.methods.Method.hooks`); the loop builds each with
``Hook(options)``, calls :meth:`Hook.setup` once before the first iteration (in the listed
order) and :meth:`Hook.before_step` before every iteration. A hook acts on the :class:`Fit`
state: which parameters train, how the network's output is computed, the network input.
Adding a method with new behaviour means writing a hook, not editing the loop.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import torch

__all__ = ["Fit", "Hook", "FrozenEncoder", "SequentialInput", "LevelCalibration", "GAIN_BOUNDS"]

log = logging.getLogger(__name__)


class Fit:
    """The state of one fit, shared by the loop, the loss terms, the selectors and the hooks.

    Attributes
    ----------
    net : tomopy_dip.networks.UNet
        The networks (one copy per slice).
    z : torch.Tensor
        The network input ``(1, B, nx, ny)``.
    batch : tomopy_dip.fitting.problem.SliceBatch
        The data.
    params : list of torch.nn.Parameter
        The parameters Adam updates.
    output : callable
        ``output(z) -> (B, nx, ny)``: the networks' images for input ``z``.
    gain : torch.Tensor or None
        A fixed factor on the output (:class:`LevelCalibration`).
    k, x : int, torch.Tensor or None
        The current iteration and its images (unit scale).
    n_iter, n_done : int
        Iterations asked for (the cap) and run.
    """

    def __init__(self, net: Any, z: torch.Tensor, batch: Any, options: Any, slice_ids: Sequence[int]):
        self.net, self.z, self.batch, self.options = net, z, batch, options
        self.slice_ids = list(slice_ids)
        self.params = list(net.parameters())
        self.output: Callable[[torch.Tensor], torch.Tensor] = lambda inp: self.unpack(net(self.pack(inp)))
        self.gain: torch.Tensor | None = None
        self.k, self.x, self.n_iter, self.n_done = 0, None, options.num_iter, 0
        self._input_listeners: list[Callable[[], None]] = []
        self._bf16 = options.precision == "bfloat16"
        # A bounded (sigmoid) output is mapped onto the object's range when it is not (0, 1).
        lo, hi = batch.output_range[:, 0], batch.output_range[:, 1]
        bounded = net.config.out_activation == "sigmoid"
        self._range = (lo[:, None, None], (hi - lo)[:, None, None]) \
            if bounded and bool(((lo != 0) | (hi != 1)).any()) else None

    def pack(self, inp: torch.Tensor) -> torch.Tensor:
        """The network's tensor for an input ``(1, B, nx, ny)``: itself (2-D, one copy per
        slice in the channels), or ``(1, 1, B, nx, ny)`` (3-D: the slab as a volume)."""
        return inp if self.net.config.dims == 2 else inp.unsqueeze(1)

    def unpack(self, out: torch.Tensor) -> torch.Tensor:
        """The images ``(B, nx, ny)`` of a network output (inverse of :meth:`pack`)."""
        return out[0] if self.net.config.dims == 2 else out[0, 0]

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        """The images for input ``inp``, ``(B, nx, ny)``, float32 (the network runs under
        bfloat16 autocast with ``precision="bfloat16"``; weights, loss and projector stay
        float32)."""
        with torch.autocast(inp.device.type, dtype=torch.bfloat16, enabled=self._bf16):
            out = self.output(inp)
        out = out.float()
        if self._range is not None:
            out = self._range[0] + self._range[1] * out
        return out if self.gain is None else out * self.gain

    def on_new_input(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` whenever :meth:`set_input` changes the input."""
        self._input_listeners.append(listener)

    def set_input(self, z: torch.Tensor) -> None:
        self.z = z
        for listener in self._input_listeners:
            listener()


class Hook:
    """A change a method makes to the fit (no-op by default)."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def setup(self, fit: Fit) -> None:
        """Before the first iteration (after the network and its input exist)."""

    def before_step(self, fit: Fit, k: int) -> None:
        """Before iteration ``k``."""


class FrozenEncoder(Hook):
    """EDIP-FE: the encoder is frozen and its features of the fixed input are computed once
    (again only when the input changes); only the decoder is fine-tuned."""

    def setup(self, fit: Fit) -> None:
        net = fit.net
        for p in net.encoder_parameters():
            p.requires_grad_(False)
        fit.params = list(net.decoder_parameters())
        cache: dict[str, list] = {}

        def output(inp: torch.Tensor) -> torch.Tensor:
            if "features" not in cache:
                with torch.no_grad():
                    cache["features"] = net.encode(fit.pack(inp))
            return fit.unpack(net.decode(cache["features"]))

        fit.output = output
        fit.on_new_input(cache.clear)


class SequentialInput(Hook):
    """aSeqDIP: every ``inner_steps`` iterations the input becomes the network's output
    ``z_k = f(z_{k-1})`` (a forward pass without gradient); the weights carry over."""

    def before_step(self, fit: Fit, k: int) -> None:
        inner = self.options.inner_steps
        if k > 0 and k % inner == 0:
            with torch.no_grad():
                fit.set_input(fit.forward(fit.z).unsqueeze(0).detach())


#: Bounds of the level calibration's gain (``calibrate``): outside them the pretrained image
#: does not resemble the data and scaling it would hide that.
GAIN_BOUNDS = (0.5, 2.0)


class LevelCalibration(Hook):
    """With ``calibrate=True``: before fine-tuning, multiply the output by the per-slice factor
    ``a`` minimising ``||A (a x0) - y||^2`` for the start image ``x0`` (one projection).

    A pretrained network normalises its features, so it cannot see the absolute level of its
    input and outputs the level of its training set; on data of another kind its image is
    uniformly too dark or too bright. The factor is clipped to :data:`GAIN_BOUNDS` with a
    warning naming the slice.
    """

    def setup(self, fit: Fit) -> None:
        if not self.options.calibrate:
            return
        x0 = fit.forward(fit.z).detach()
        ax = fit.batch.project(x0)
        a = (ax * fit.batch.y).sum((1, 2)) / (ax * ax).sum((1, 2)).clamp_min(1e-30)
        lo, hi = GAIN_BOUNDS
        for i, ai in zip(fit.slice_ids, a.tolist()):
            if not lo <= ai <= hi:
                log.warning("slice %d: the pretrained image fits the data only scaled by %.3g; level "
                            "calibration clipped to [%g, %g]: the checkpoint may not suit these data",
                            i, ai, lo, hi)
        log.debug("level calibration: gains %s", [round(v, 4) for v in a.tolist()])
        fit.gain = a.clamp(lo, hi)[:, None, None]
