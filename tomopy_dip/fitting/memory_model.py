"""The memory model of a reconstruction: its parts, the calibrated constants, the plan.

A :class:`MemoryPlan` holds, for one call of the engine, the bytes of each part the process
will hold at its peak; :func:`tomopy_dip.fitting.memory.estimate_memory` fills it in from the
configuration, :func:`tomopy_dip.fitting.memory.check_memory` refuses one that cannot fit.

The parts of a plan
-------------------
``network``
    The U-Net's feature maps of one slice's fit, kept for the backward pass, with their
    gradients and the allocator's slack: :data:`ACTIVATION_BYTES` bytes per element of
    :func:`activation_elements` (counted from the layer list of
    :class:`~tomopy_dip.networks.UNet`), plus what a fit allocates once whatever its size
    (:data:`NETWORK_FIXED_BYTES`: oneDNN's kernels, autograd, the allocator's arenas). Slices
    are fitted one after the other, so only one slice's network is alive at a time.
``parameters``
    Weights, their gradients and Adam's two moments (plus the bfloat16 copies of autocast, and
    the copy of weights and moments that ``backtrack`` keeps).
``projector``
    The system matrices (``A`` and ``A^T``, :func:`~tomopy_dip.physics.projector.
    estimate_matrix_bytes`, which builds a few angles on a small grid only), one per distinct
    geometry of the call (at most the operator cache's size), or the buffers of the on-the-fly
    backend. Building a matrix briefly holds :data:`MATRIX_BUILD_FACTOR` times its size (ASTRA's
    copy, SciPy's, the transpose): ``projector_build`` is that transient excess, before the fit.
``data``
    Sinograms and output images of the call, and per fit the scaled data, FBP (and its
    float64 filtering), network input, selected image, the stopping rule's window and the
    history.
``baseline``
    The interpreter and its libraries (Python, torch, NumPy, SciPy, ASTRA):
    :data:`BASELINE_BYTES`.

The peak is ``baseline + data + projector + max(network + parameters, projector_build)``: the
matrix is built before the fit starts.

Calibration
-----------
Measured as peak resident memory of fresh processes running a few iterations of TV-DIP with
the default network (``benchmarks/memory.py --calibrate``; CPU, one thread, torch 2.13,
glibc's allocator). The imports took 261-262 MiB. The fit's own peak above the built operator,
at 128², 256², 384², 512² and 640² (180 views), was ``154-193 MiB + 5.21-5.35 bytes x E`` by
least squares in two runs (``E`` = 380 elements per pixel for the default network, 95 MiB of
float32 feature maps at 256²); single points lie up to 30 % off the line and vary between runs
(384²: 504 and 625 MiB), as the allocator reuses freed maps differently with their size. In
bfloat16 it was ``101 MiB + 8.6 bytes x E`` (autocast keeps float32 and bfloat16 copies of the
normalised maps: bfloat16 saves no memory on the CPU). A system matrix took 2.33 times its
final size while built and 0.93-0.94 times once built. The constants below take the
larger values. Against fresh runs (``python benchmarks/memory.py``) the estimate was within
7 % (measured / estimate 0.93-1.00) at 256², 512² and 640², both backends, float32 and
bfloat16. On CUDA the network, its data and the matrix (a second copy) are checked against
the GPU's free memory with the CPU's factors (not calibrated there).

Examples
--------
>>> round(activation_elements(UNetConfig(), 256, 256) * ACTIVATION_BYTES["float32"] / 2**20)  # MiB at 256²
127
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tomopy_dip.networks import UNet, UNetConfig

__all__ = ["MemoryPlan", "activation_elements", "parameter_count", "on_the_fly_bytes", "format_bytes",
           "ACTIVATION_BYTES", "NETWORK_FIXED_BYTES", "BASELINE_BYTES", "MATRIX_BUILD_FACTOR"]

#: Bytes per feature-map element of one fit (forward maps kept for backward, their gradients,
#: allocator slack), by ``precision``; measured on the CPU (see the module docstring).
ACTIVATION_BYTES = {"float32": 5.35, "bfloat16": 8.2}
#: What a fit allocates whatever its size (oneDNN's kernels, autograd, the allocator's arenas).
NETWORK_FIXED_BYTES = 193 * 2**20
#: The interpreter with torch, NumPy, SciPy and ASTRA imported.
BASELINE_BYTES = 262 * 2**20
#: A system matrix's peak while it is built, over its final size.
MATRIX_BUILD_FACTOR = 2.33


def format_bytes(n: float) -> str:
    """``1536 * 2**20`` -> ``"1.5 GiB"``.

    Examples
    --------
    >>> format_bytes(3 * 2**30 + 2**29), format_bytes(5 * 2**20), format_bytes(900)
    ('3.5 GiB', '5.0 MiB', '900 B')
    """
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def on_the_fly_bytes(pixels: int, sino: int) -> int:
    """Buffers of one on-the-fly (``"astra"``) operator of a grid of ``pixels`` pixels and a
    sinogram of ``sino`` values.

    Examples
    --------
    >>> on_the_fly_bytes(256 * 256, 180 * 256) / 2**20  # MiB
    5.703125
    """
    return 4 * (20 * pixels + 4 * sino)


# ---------------------------------------------------------------------------- the network
def _scale_shapes(nx: int, ny: int, scales: int, nz: int = 1) -> list[int]:
    """Pixels (voxels) of each scale: stride-2 convolutions with padding 1 halve rounding up
    (along ``nz`` too for a 3-D network)."""
    shapes = [(nz, nx, ny)]
    for _ in range(1, scales):
        d, h, w = shapes[-1]
        shapes.append(((d + 1) // 2, (h + 1) // 2, (w + 1) // 2))
    return [d * h * w for d, h, w in shapes]


def activation_elements(config: UNetConfig, nx: int, ny: int, nz: int = 1) -> int:
    """Elements of the feature maps one forward pass of one U-Net keeps for its backward pass
    (a 3-D network: on a slab of ``nz`` slices).

    The outputs of every convolution and normalisation (the in-place LeakyReLU adds none), the
    up-sampled maps where no skip is concatenated to them (a concatenation keeps its result,
    not its inputs), the concatenations and the sigmoid's output; not the input image. These
    are the tensors autograd saves (``tests/test_memory.py`` counts them with
    :func:`torch.autograd.graph.saved_tensors_hooks`).

    Examples
    --------
    >>> activation_elements(UNetConfig(), 256, 256) / 256**2  # the default network
    380.0
    """
    c, s = config.channels, config.skip_channels
    pix = _scale_shapes(nx, ny, len(c), nz if config.dims == 3 else 1)
    total = 2 * c[0] * pix[0]  # input block: convolution, normalisation
    for i in range(1, len(c)):  # down-sampling blocks: two (convolution, normalisation)
        total += 4 * c[i] * pix[i]
    for i in range(1, len(c)):  # up-sampling from scale len(c) - i into len(c) - i - 1
        cin, cout, skip, p = c[-i], c[-i - 1], s[-i], pix[len(c) - i - 1]
        if skip:  # 1x1 skip convolution, its normalisation, the concatenation
            total += (2 * skip + cin + skip) * p
        else:  # the up-sampled map
            total += cin * p
        total += (cin + skip + 4 * cout) * p  # normalisation, 3x3 conv, norm, 1x1 conv, norm
    if config.out_activation == "sigmoid":
        total += pix[0]  # the sigmoid's output
    return int(total)


def parameter_count(config: UNetConfig) -> int:
    """Parameters of one U-Net (laid out on PyTorch's ``meta`` device: no memory)."""
    with torch.device("meta"):
        return int(sum(p.numel() for p in UNet(config).parameters()))


# ---------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class MemoryPlan:
    """Estimated memory of a reconstruction, in bytes per part (see the module docstring).

    Attributes
    ----------
    network, parameters, projector, projector_build, data, baseline : int
        The parts.
    backend : str
        The projector backend planned: ``"matrix"`` or ``"astra"``.
    device : str
        The compute device (``"cpu"``, ``"cuda:0"``).
    precision : str
        The network's arithmetic.
    nslices, nproj, ndet : int
        Slices, views and detector pixels of the call.
    shape : tuple of int
        The output grid ``(num_gridx, num_gridy)``.
    resident : int
        Bytes of the plan this process already holds (the imported libraries, operators
        already built); :attr:`additional` is what it still needs.
    matrix_bytes : int
        One system matrix (0 without one).
    """

    network: int
    parameters: int
    projector: int
    projector_build: int
    data: int
    baseline: int
    backend: str
    device: str = "cpu"
    precision: str = "float32"
    nslices: int = 1
    nproj: int = 0
    ndet: int = 0
    shape: tuple = (0, 0)
    resident: int = 0
    matrix_bytes: int = 0

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def device_bytes(self) -> int:
        """Bytes on the GPU (0 on the CPU): the network, its parameters, a fit's data and a
        copy of the matrices."""
        if not self.on_gpu:
            return 0
        return self.network + self.parameters + self._fit_data() + (self.projector if self.backend == "matrix" else 0)

    def _fit_data(self) -> int:
        gx, gy = self.shape
        return 4 * (8 * gx * gy + 2 * self.nproj * self.ndet)

    @property
    def host_bytes(self) -> int:
        """Peak bytes in the computer's memory."""
        if self.on_gpu:
            return self.baseline + self.data + self.projector + self.projector_build
        return self.baseline + self.data + self.projector + max(self.network + self.parameters, self.projector_build)

    @property
    def total(self) -> int:
        """The peak: host and GPU memory together."""
        return self.host_bytes + self.device_bytes

    @property
    def additional(self) -> int:
        """Host bytes still to be allocated: :attr:`host_bytes` less :attr:`resident`."""
        return max(0, self.host_bytes - self.resident)

    def parts(self) -> dict[str, int]:
        """The parts by name, largest first."""
        parts = {"network": self.network, "parameters": self.parameters, "projector": self.projector,
                 "data": self.data, "baseline": self.baseline}
        return dict(sorted(parts.items(), key=lambda kv: -kv[1]))

    def text(self) -> str:
        """The plan in words, e.g. ``"about 3.2 GiB: network 0.9 GiB, projector 2.0 GiB (4.7 GiB
        while built), ..."``."""
        words = []
        for name, n in self.parts().items():
            extra = ""
            if name == "projector":
                kind = "system matrix" if self.backend == "matrix" else "on the fly"
                build = (f", {format_bytes(self.projector + self.projector_build)} while built"
                         if self.projector_build else "")
                extra = f" ({kind}{build})"
            words.append(f"{name} {format_bytes(n)}{extra}")
        where = f" ({format_bytes(self.device_bytes)} of it on {self.device})" if self.on_gpu else ""
        return f"about {format_bytes(self.total)}{where}: " + ", ".join(words)

    def describe(self) -> str:
        """The problem the plan is for, in words."""
        gx, gy = self.shape
        s = "s" if self.nslices != 1 else ""
        return (f"{self.nslices} slice{s} of {self.nproj} views x {self.ndet} pixels on a {gx}x{gy} grid, "
                f"{self.precision}, backend={self.backend!r}")
