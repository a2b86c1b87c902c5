"""The registered pretrained checkpoints (generated: do not edit by hand).

Written by ``python benchmarks/pretrain_checkpoints.py register``, which fills in each shipped
file's SHA-256, size and the summary of its metadata. Each entry is read by
:mod:`tomopy_dip.checkpoints`; the ``.safetensors`` file itself lives next to this module.
"""

ENTRIES = []
