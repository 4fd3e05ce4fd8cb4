"""Where the shipped models are found.

The models (``fassst_default.onnx``, the default, ``fassst_dense.onnx``, the
one-pass model for dense frames, and ``fassst_dense_int8.onnx``, its 8-bit
form for CPUs, each with its ``.tail.onnx``) live in
the repository's ``engines/`` folder; the wheel carries a copy as package
data, ``fassst_rt/engines/`` (CMakeLists.txt's install rule), so ``fassst-rt
segment`` finds the default without ``-m``, and either by its bare name
(``-m fassst_dense.onnx``), wherever the package is installed, from any
working directory."""

import os
from typing import Optional, Tuple

from .model_files import tail_onnx_path

DEFAULT_MODEL_NAME = "fassst_default.onnx"
SHIPPED_MODEL_NAMES = (DEFAULT_MODEL_NAME, "fassst_dense.onnx", "fassst_dense_int8.onnx")

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def shipped_model_candidates(name: str = DEFAULT_MODEL_NAME) -> Tuple[str, ...]:
    """Where a shipped model is looked for, in order: inside the installed
    package, then in the source checkout the package is imported from."""
    return (os.path.join(_PACKAGE_DIR, "engines", name),
            os.path.join(os.path.dirname(_PACKAGE_DIR), "engines", name))


def default_model_candidates() -> Tuple[str, ...]:
    return shipped_model_candidates(DEFAULT_MODEL_NAME)


def shipped_model_path(name: str = DEFAULT_MODEL_NAME) -> str:
    """A shipped model's frame graph (its tail graph beside it). Raises
    FileNotFoundError naming the places looked in when neither holds both files."""
    if name not in SHIPPED_MODEL_NAMES:
        raise ValueError("name must be one of the shipped models {}, got {!r}".format(
            ", ".join(SHIPPED_MODEL_NAMES), name))
    candidates = shipped_model_candidates(name)
    for frame in candidates:
        if os.path.isfile(frame) and os.path.isfile(tail_onnx_path(frame)):
            return frame
    raise FileNotFoundError(
        "the shipped model is not installed (looked for {} with its .tail.onnx in {}); "
        "pass a model with -m NAME.onnx".format(name, " and ".join(os.path.dirname(c) for c in candidates)))


def default_model_path() -> str:
    """The default shipped model's frame graph (see shipped_model_path)."""
    return shipped_model_path(DEFAULT_MODEL_NAME)


def resolve_model(model: Optional[str]) -> str:
    """What a ``-m`` argument names: the default model when None, a file
    that exists as given, else a shipped model's bare name (wherever the
    package is installed); anything else is returned unchanged, for the
    backend to report."""
    if model is None:
        return default_model_path()
    if os.path.exists(model) or os.path.basename(model) != model or model not in SHIPPED_MODEL_NAMES:
        return model
    return shipped_model_path(model)
