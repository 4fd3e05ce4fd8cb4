"""Serving with NVIDIA Triton Inference Server (docs/triton.md).

- :mod:`.served`: what a Triton model does with a request (frames in, one JSON
  document of instances per frame out), shared by the Python-backend
  ``model.py`` of an exported repository and by PyTriton;
- :mod:`.export`: ``fassst-rt export-triton MODEL OUT_DIR``, the model repository;
- ``python_backend_model.py``: the file an export copies as ``model.py``.

Triton itself is never imported here; Python 3.8 (JetPack 5) is enough.
"""
