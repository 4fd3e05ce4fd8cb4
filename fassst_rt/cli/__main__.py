"""``python -m fassst_rt.cli VERB ...``: the same as ``fassst-rt VERB ...``."""

import sys

from . import main

sys.exit(main())
