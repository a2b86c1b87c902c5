"""``python -m tomopy_dip``: the ``tomopy-dip`` command line (see :mod:`tomopy_dip.cli`)."""

import sys

from tomopy_dip.cli import main

if __name__ == "__main__":
    sys.exit(main())
