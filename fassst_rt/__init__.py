"""fassst_rt: an edge inference runtime for real-time instance segmentation (FASSST).

The inference path (this package without its ``train`` subpackage) runs on
Python 3.8 and needs NumPy and the compiled core ``fassst_rt._C`` only.
"""

__version__ = "0.1.0"

from .results import Instances  # noqa: E402
from .segmenter import Segmenter  # noqa: E402

__all__ = ["Segmenter", "Instances", "__version__"]
