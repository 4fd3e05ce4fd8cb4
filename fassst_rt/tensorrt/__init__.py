"""Everything that runs or builds TensorRT engines, in one package.

- :mod:`.backend`      ``TensorRTBackend``: runs ``NAME.plan`` + ``NAME.tail.plan`` (the
  backend registry opens it for ``.plan`` files)
- :mod:`.build`        building the engines from an exported model (``fassst-rt build``)
- :mod:`.plan`         the ``NAME.plan.json`` sidecar: cache key, profiles, compatibility checks
- :mod:`.compat`       the few calls where TensorRT 8.5, 8.6, 10.x and 11.x differ
- :mod:`.cuda_memory`  device and pinned memory and a stream, through cuda-python

Nothing here imports TensorRT or cuda-python at import time: the package imports, and a
plan's sidecar can be read and checked, on machines without a GPU (docs/tensorrt.md).
"""
