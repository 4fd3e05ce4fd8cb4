"""Where the shipped default model is found.

The model (``fassst_default.onnx`` and ``fassst_default.tail.onnx``) lives in
the repository's ``engines/`` folder; the wheel carries a copy as package data,
``fassst_rt/engines/`` (CMakeLists.txt's install rule), so ``fassst-rt segment``
finds it without ``-m`` wherever the package is installed, from any working
directory."""

import os
from typing import Tuple

from .model_files import tail_onnx_path

DEFAULT_MODEL_NAME = "fassst_default.onnx"

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def default_model_candidates() -> Tuple[str, ...]:
    """Where the shipped model is looked for, in order: inside the installed
    package, then in the source checkout the package is imported from."""
    return (os.path.join(_PACKAGE_DIR, "engines", DEFAULT_MODEL_NAME),
            os.path.join(os.path.dirname(_PACKAGE_DIR), "engines", DEFAULT_MODEL_NAME))


def default_model_path() -> str:
    """The shipped model's frame graph (its tail graph beside it). Raises
    FileNotFoundError naming the places looked in when neither holds both files."""
    candidates = default_model_candidates()
    for frame in candidates:
        if os.path.isfile(frame) and os.path.isfile(tail_onnx_path(frame)):
            return frame
    raise FileNotFoundError(
        "the shipped model is not installed (looked for {} with its .tail.onnx in {}); "
        "pass a model with -m NAME.onnx".format(DEFAULT_MODEL_NAME, " and ".join(
            os.path.dirname(c) for c in candidates)))
