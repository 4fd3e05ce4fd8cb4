"""Where fps.py finds the repository, its models and itself."""

import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS_DIR = os.path.dirname(PACKAGE_DIR)
REPO = os.path.dirname(BENCHMARKS_DIR)
FPS_SCRIPT = os.path.join(BENCHMARKS_DIR, "fps.py")
DEFAULT_MODEL = os.path.join(REPO, "engines", "fassst_default.onnx")
TINY_MODEL = os.path.join(REPO, "tests", "data", "tiny", "tiny.onnx")
