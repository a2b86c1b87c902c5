"""U-Net with the topology of Educated DIP, able to hold several independent copies.

The network follows EDIP's 2D U-Net: an input block, ``scales - 1`` strided down-sampling
blocks, as many bilinear up-sampling blocks with optional 1x1 skip connections, GroupNorm and
LeakyReLU(0.2) throughout, and a 1x1 output convolution followed by a sigmoid (our default:
on sparse real data it made DIP converge steadily, 31.6 dB against 27.6 dB without it after
1500 iterations on HTC-60 at 128²; EDIP's paper has no output activation, which
``out_activation="none"`` gives).

``n_models`` independent networks (one per slice) are stored side by side as grouped
convolutions, so that many slices are fitted in one batched computation while every slice keeps
its own weights, optimiser state and random initialisation: copy ``k`` of the ensemble computes
exactly what a single network initialised with the same generator would.

Tensors are laid out as ``(N, n_models * channels, H, W)``: ``N`` is an ordinary batch (used in
pretraining, where ``n_models == 1``), and the channel axis holds the models one after another.

The configuration and its defaults are in :mod:`~tomopy_dip.networks.config`, the network in
:mod:`~tomopy_dip.networks.unet`; both are importable from here.
"""

from tomopy_dip.networks.config import (COARSEST_SCALE, DEFAULT_WIDTH, FittedNetwork, UNetConfig, default_channels,
                                        default_skip_channels)
from tomopy_dip.networks.unet import UNet, check_state_fits

__all__ = ["UNetConfig", "UNet", "FittedNetwork", "default_channels", "default_skip_channels", "check_state_fits"]
