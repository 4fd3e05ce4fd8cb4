"""Backends run a model's two graphs. One is chosen from the model file's
suffix through a small registry:

| suffix  | backend      | runs on                                        |
|---------|--------------|------------------------------------------------|
| .onnx   | onnxruntime  | CPU (default), CUDA / TensorRT execution providers where present |
| .plan   | tensorrt     | an NVIDIA GPU with the TensorRT the engine was built with |

An application can register its own with :func:`register_backend`.
"""

import os
from typing import Callable, Dict, Tuple

from .base import Backend, FrameOutputs, ModelError

__all__ = ["Backend", "FrameOutputs", "ModelError", "register_backend", "open_backend", "backends"]

# suffix -> (backend name, "module:factory" or a callable)
_REGISTRY = {
    ".onnx": ("onnxruntime", "fassst_rt.backends.onnxruntime_backend:OnnxRuntimeBackend"),
    ".plan": ("tensorrt", "fassst_rt.tensorrt.backend:TensorRTBackend"),
}  # type: Dict[str, Tuple[str, object]]


def register_backend(suffix: str, name: str, factory: Callable[..., Backend]) -> None:
    """Registers ``factory(path, **options) -> Backend`` for files ending in ``suffix``."""
    if not suffix.startswith("."):
        raise ValueError("suffix must start with '.', got {!r}".format(suffix))
    _REGISTRY[suffix.lower()] = (name, factory)


def backends() -> Dict[str, str]:
    """Registered suffixes and their backend names."""
    return {suffix: name for suffix, (name, _) in _REGISTRY.items()}


def _load(factory):
    if callable(factory):
        return factory
    module_name, attr = str(factory).split(":")
    import importlib
    return getattr(importlib.import_module(module_name), attr)


def open_backend(path: str, backend: str = "auto", **options) -> Backend:
    """Opens ``path`` with the backend its suffix names (or ``backend`` by name)."""
    path = os.fspath(path)
    if backend == "auto":
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in _REGISTRY:
            raise ModelError("{}: unknown model file suffix {!r}; expected one of {}"
                             .format(path, suffix, ", ".join(sorted(_REGISTRY))))
        _, factory = _REGISTRY[suffix]
    else:
        by_name = {name: factory for name, factory in _REGISTRY.values()}
        if backend not in by_name:
            raise ValueError("backend must be 'auto' or one of {}, got {!r}".format(sorted(by_name), backend))
        factory = by_name[backend]
    return _load(factory)(path, **options)
