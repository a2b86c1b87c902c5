"""Whole scans: from a Data Exchange file to reconstructed slices on disk, streamed and resumable.

The work of ``tomopy-dip recon``, as a library function, :func:`reconstruct_file`:

- :mod:`~tomopy_dip.volume.settings`: the settings' schema (:data:`FILE_KEYWORDS`), checked once
  before the file is read; :class:`ScanPretrain`; :class:`SettingError`;
- :mod:`~tomopy_dip.volume.scan`: a scan's rows as sinograms (reading, pre-processing, centre);
- :mod:`~tomopy_dip.volume.plan`: rows, sizes, memory and time, told before any fitting;
- :mod:`~tomopy_dip.volume.tasks`: groups of rows fitted and written by one worker, here or on Dask;
- :mod:`~tomopy_dip.volume.outputs`: the output directory (one file per slice, resume);
- :mod:`~tomopy_dip.volume.seeding`: EDIP pretrained on the scan's own seed rows;
- :mod:`~tomopy_dip.volume.previews`, :mod:`~tomopy_dip.volume.result`: the figures and the record
  of a run;
- :mod:`~tomopy_dip.volume.run`: :func:`reconstruct_file`, the steps in order.
"""

from tomopy_dip.volume.result import FileReconstruction
from tomopy_dip.volume.run import reconstruct_file
from tomopy_dip.volume.scan import rows_text
from tomopy_dip.volume.plan import ScanPlan
from tomopy_dip.volume.settings import FILE_KEYWORDS, ROWS_PER_TASK, ScanPretrain, SettingError

__all__ = ["reconstruct_file", "FileReconstruction", "ScanPlan", "ScanPretrain", "SettingError",
           "FILE_KEYWORDS", "ROWS_PER_TASK", "rows_text"]
