"""The PyTorch reference model of FASSST and what trains, exports and evaluates it.

The model, its training and its export need PyTorch (the ``train`` extra, Python >= 3.10):
``network``, ``rff``, ``targets``, ``losses``, ``trainer``, ``checkpoint``, ``export``,
``torch_backend`` and ``data`` (the PyTorch data set). The others import without PyTorch:
``config``, ``evaluate`` (pycocotools), ``baseline`` (scikit-image) and ``portable`` (onnx).
The runtime (``Segmenter``, the backends, ``fassst-rt segment`` / ``info``) never imports this
subpackage; the data sets without PyTorch are in :mod:`fassst_rt.data`. Submodules:

- ``config``         ``ModelConfig`` / ``TrainConfig`` dataclasses, presets, JSON/YAML files
- ``network``        ``FASSST``: MobileNetV2 backbone, IAM, pyramid mask layers, tail
- ``rff``            pure-PyTorch RoIAlign (aligned, sampling_ratio=1) and ROI feature fusion
- ``targets``        assignment of ground-truth instances to grid cells
- ``losses``         5.75 L_mask + 3 L_loc + 1.25 L_cls
- ``trainer``        ``train(config)``, the loop behind ``fassst-rt train``
- ``checkpoint``     safe checkpoints (``torch.load(weights_only=True)``)
- ``export``         the two ONNX graphs and their parity check (``fassst-rt export``)
- ``portable``       the single-graph export of an exported model
- ``torch_backend``  the PyTorch model as a runtime backend (the parity reference)
- ``data``           ``CocoInstanceDataset``, ``collate``, class-balanced sampling
- ``evaluate``       COCO AP; ``baseline``: the classical Otsu + watershed baseline

See docs/model.md.
"""
