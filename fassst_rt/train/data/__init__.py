"""The PyTorch side of the training data (the data sets themselves, without
PyTorch, are in :mod:`fassst_rt.data`; docs/data.md).

- :mod:`.coco`: ``CocoInstanceDataset`` (a ``torch.utils.data.Dataset`` over a COCO file,
  letterboxed exactly as the runtime does, with the augmentations of
  :mod:`fassst_rt.data.augment`) and ``collate``;
- :mod:`.sampling`: class-balanced repeat factors and the epoch order they give.

Both import PyTorch.
"""
