"""Data in and out: Data Exchange readers, TIFF and CSV files, preprocessing, example datasets.

* :mod:`~tomopy_dip.data.exchange` reads Data Exchange HDF5 files (dxchange or h5py);
* :mod:`~tomopy_dip.data.files` writes and reads TIFF stacks and iteration histories;
* :mod:`~tomopy_dip.data.preprocess` normalises, takes the log and finds the centre;
* :mod:`~tomopy_dip.data.datasets` loads the real example datasets, fetched through
  :mod:`~tomopy_dip.data.registry` (checksums, cache, offline mirror).
"""

from tomopy_dip.data.datasets import DATASETS, HTC_PHANTOMS, get_path, load_fips_gel, load_htc2022, load_tooth
from tomopy_dip.data.exchange import (
    DataFileError, ExchangeData, dxchange_available, read_aps_32id, read_data_exchange,
)
from tomopy_dip.data.files import read_history_csv, read_tiff_stack, write_history_csv, write_tiff_stack
from tomopy_dip.data.preprocess import (
    bin_detector, binned_center, find_center, find_center_vo, minus_log, normalize, to_sinograms,
    tomopy_available,
)
from tomopy_dip.data.registry import RegistryError

__all__ = [
    "DataFileError", "ExchangeData", "dxchange_available", "read_data_exchange", "read_aps_32id",
    "write_tiff_stack", "read_tiff_stack", "write_history_csv", "read_history_csv",
    "tomopy_available", "normalize", "minus_log", "find_center", "find_center_vo",
    "bin_detector", "binned_center", "to_sinograms",
    "DATASETS", "HTC_PHANTOMS", "get_path", "load_htc2022", "load_tooth", "load_fips_gel",
    "RegistryError",
]
