"""Where the shipped default model is found."""

import os

# The shipped model lives in the repository's engines/ folder only: the wheel
# does not carry it (pyproject packages fassst_rt/ alone), so it is found
# beside a source checkout or an editable install.
_REPOSITORY_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "engines",
                                 "fassst_default.onnx")


def default_model_path() -> str:
    """The shipped model's frame graph in the repository; where the package
    runs without the repository, the relative path engines/fassst_default.onnx
    (found from a checkout's root, and named by the error otherwise)."""
    if os.path.isfile(_REPOSITORY_MODEL):
        return _REPOSITORY_MODEL
    return os.path.join("engines", "fassst_default.onnx")
