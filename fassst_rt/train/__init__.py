"""The PyTorch reference model of FASSST: network, targets, losses, training.

This subpackage needs Python >= 3.10 and PyTorch (the ``train`` extra); the
inference path (the rest of ``fassst_rt``) never imports it. Submodules:

- ``config``      ``ModelConfig`` / ``TrainConfig`` dataclasses, presets, JSON/YAML files
- ``network``     ``FASSST``: MobileNetV2 backbone, IAM, pyramid mask layers, tail
- ``rff``         pure-PyTorch RoIAlign (aligned, sampling_ratio=1) and ROI feature fusion
- ``targets``     assignment of ground-truth instances to grid cells
- ``losses``      5.75 L_mask + 3 L_loc + 1.25 L_cls
- ``trainer``     ``train(config)``, the ``fassst-rt train`` command
- ``checkpoint``  safe checkpoints (``torch.load(weights_only=True)``)
- ``data``        COCO loader and synthetic data set; ``evaluate``: COCO AP

See docs/model.md.
"""
