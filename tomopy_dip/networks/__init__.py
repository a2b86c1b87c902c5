"""The U-Net of the methods: EDIP's topology, able to hold several independent copies (one per
slice) in one batched module.

The configuration and its defaults are in :mod:`~tomopy_dip.networks.config`, the network in
:mod:`~tomopy_dip.networks.unet` (its description); both are importable from here.
"""

from tomopy_dip.networks.config import (COARSEST_SCALE, DEFAULT_WIDTH, FittedNetwork, UNetConfig, default_channels,
                                        default_skip_channels)
from tomopy_dip.networks.unet import UNet, check_state_fits

__all__ = ["UNetConfig", "UNet", "FittedNetwork", "default_channels", "default_skip_channels", "check_state_fits"]
