"""Parameters, FLOPs and file sizes of a model's ONNX graphs."""

import os
from typing import Dict

from .models import tail_of


def file_size(path: str) -> int:
    return os.path.getsize(path) if os.path.isfile(path) else 0


def model_sizes(path: str) -> Dict[str, int]:
    """Bytes on disk of the frame graph, the tail graph beside it, and both."""
    sizes = {"frame": file_size(path), "tail": file_size(tail_of(path))}
    sizes["total"] = sizes["frame"] + sizes["tail"]
    return sizes


def complexity(path: str, instances: int) -> Dict[str, object]:
    """Parameters and FLOPs from the ONNX graphs (frame at its input size, tail per instance)."""
    from fassst_rt.flops import count_graph

    frame = count_graph(path, dims={"B": 1})
    tail = count_graph(tail_of(path), dims={"K": 1})
    return {
        "params": frame.params + tail.params, "params_frame": frame.params, "params_tail": tail.params,
        "gflops_frame": frame.flops / 1e9, "gflops_tail_per_instance": tail.flops / 1e9,
        "gflops_at_instances": (frame.flops + instances * tail.flops) / 1e9, "instances": instances,
        "convention": "FLOPs = 2 x multiply-accumulates for Conv/ConvTranspose/Gemm/MatMul, plus "
                      "fassst_rt.flops' documented cost model for the rest; the RFF kernel is not in a graph",
        "warnings": frame.warnings + tail.warnings,
    }


def counted_complexity(model: str, instances: int) -> Dict[str, object]:
    """complexity() of the ONNX graph behind ``model`` (NAME.onnx beside a NAME.plan), or why not."""
    counted = model if model.endswith(".onnx") else os.path.splitext(model)[0] + ".onnx"
    if not os.path.isfile(counted):
        return {"note": "no ONNX graph beside {} to count".format(model)}
    return complexity(counted, instances)
