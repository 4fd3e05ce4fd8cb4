"""The files a model is made of and the tensor names inside its graphs, in one
place (docs/model_files.md describes them for users).

A model is one path; its other parts are found beside it:

| file                | what                                                          |
|---------------------|---------------------------------------------------------------|
| ``NAME.onnx``       | frame graph; its metadata_props hold the model metadata under ``METADATA_KEY`` |
| ``NAME.tail.onnx``  | tail graph                                                    |
| ``NAME.plan``       | TensorRT engine of the frame graph (``fassst-rt build``)      |
| ``NAME.tail.plan``  | TensorRT engine of the tail graph                             |
| ``NAME.plan.json``  | the engines' sidecar (fassst_rt/tensorrt/plan.py); the same metadata under ``METADATA_KEY`` |
| ``NAME.portable.onnx`` | the whole pipeline in one standard-op graph (docs/portable.md) |

Graph tensors: the frame graph maps ``images`` (B, 3, S, S) to ``boxes``,
``scores`` and the pyramid ``p1``, ``p2``, ``p3``; the tail graph maps
``rois`` (K, M, S1, S1) to ``masks``; the portable graph maps ``images`` to
``PORTABLE_OUTPUTS``.

Plain Python (os): importable anywhere the inference path is.
"""

import os
from typing import NamedTuple

from .metadata import METADATA_KEY as METADATA_KEY  # the key is the metadata document's "format" too

__all__ = ["METADATA_KEY", "MAX_OPSET", "FRAME_INPUT", "FRAME_OUTPUTS", "PYRAMID_OUTPUTS", "TAIL_INPUT",
           "TAIL_OUTPUT", "PORTABLE_OUTPUTS", "tail_onnx_path", "portable_onnx_path", "is_portable_onnx",
           "PlanPaths", "plan_paths"]

# The newest ONNX opset the exported graphs may use: TensorRT 8.5 (JetPack 5)
# parses up to opset 17.
MAX_OPSET = 17

FRAME_INPUT = "images"
PYRAMID_OUTPUTS = ("p1", "p2", "p3")
FRAME_OUTPUTS = ("boxes", "scores") + PYRAMID_OUTPUTS
TAIL_INPUT = "rois"
TAIL_OUTPUT = "masks"
PORTABLE_OUTPUTS = ("boxes", "scores", "labels", "box_masks")

_TAIL = ".tail"
_PORTABLE = ".portable"
_PLAN = ".plan"
_SIDECAR = ".json"


def tail_onnx_path(frame_onnx: str) -> str:
    """NAME.onnx -> NAME.tail.onnx"""
    root, ext = os.path.splitext(os.fspath(frame_onnx))
    return root + _TAIL + ext


def portable_onnx_path(frame_onnx: str) -> str:
    """NAME.onnx -> NAME.portable.onnx"""
    root, ext = os.path.splitext(os.fspath(frame_onnx))
    return root + _PORTABLE + ext


def is_portable_onnx(path: str) -> bool:
    """Whether ``path`` names a portable single-graph export (NAME.portable.onnx)."""
    return os.fspath(path).endswith(_PORTABLE + ".onnx")


class PlanPaths(NamedTuple):
    frame: str    # NAME.plan
    tail: str     # NAME.tail.plan
    sidecar: str  # NAME.plan.json


def plan_paths(plan: str) -> PlanPaths:
    """NAME.plan -> (NAME.plan, NAME.tail.plan, NAME.plan.json); ValueError
    for a path that does not end in .plan."""
    plan = os.fspath(plan)
    root, ext = os.path.splitext(plan)
    if ext.lower() != _PLAN:
        raise ValueError("a TensorRT model path must end in .plan, got {!r}".format(plan))
    return PlanPaths(plan, root + _TAIL + ext, plan + _SIDECAR)
