"""Where the shipped default model is found."""

import os

# The shipped model lives in the repository's engines/ folder; an installed
# package may carry a copy in fassst_rt/model_files/.
_CANDIDATES = (
    os.path.join(os.path.dirname(__file__), "model_files", "fassst_default.onnx"),
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "engines",
                 "fassst_default.onnx"),
)


def default_model_path() -> str:
    """The shipped model's frame graph (the first candidate that exists; the
    repository path otherwise, so that the error names it)."""
    for path in _CANDIDATES:
        if os.path.isfile(path):
            return path
    return os.path.join("engines", "fassst_default.onnx")
