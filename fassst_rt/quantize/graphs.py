"""Graph plumbing around ONNX Runtime's quantizer: preparing a float graph,
quantizing it, and checking and tidying what comes out (the onnx package and
onnxruntime.quantization are needed here, and only here)."""

import os
from typing import Dict, List, Optional, Sequence

from ..model_files import MAX_OPSET
from .targets import Target

# ONNX Runtime's calibration methods by the names the command line uses.
METHODS = ("minmax", "percentile", "entropy")


def onnx_opset(model) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise ValueError("the graph declares no ONNX opset")


def tidy(model) -> None:
    """Names every node (the quantizer excludes nodes by name) and drops the
    opset imports of domains no node uses (ONNX Runtime's optimizer declares
    its own; other runtimes need not know them)."""
    used = {node.domain for node in model.graph.node}
    for entry in list(model.opset_import):
        if entry.domain not in ("", "ai.onnx") and entry.domain not in used:
            model.opset_import.remove(entry)
    names = set()  # type: set
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in names:
            node.name = "{}_{}".format(node.op_type, index)
        names.add(node.name)


def prepare(source: str, dest: str) -> None:
    """``source`` with shapes inferred and constants folded (ONNX Runtime's
    quantization pre-processing, basic optimisations only: standard ONNX
    operators stay standard), tidied, written to ``dest``."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(source, dest)
    model = onnx.load(dest)
    tidy(model)
    onnx.save(model, dest)


def quantize(source: str, dest: str, reader, target: Target, method: str, float_nodes: Sequence[str]) -> None:
    """Static QDQ quantization of ``source`` into ``dest``, calibrated with
    ``reader`` (an ONNX Runtime CalibrationDataReader), per-channel weights."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in METHODS:
        raise ValueError("--method must be one of {}, got {!r}".format(", ".join(METHODS), method))
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    extra = {
        "ActivationSymmetric": target.symmetric_activations,
        "WeightSymmetric": True,
    }  # type: Dict[str, object]
    if method == "percentile":
        extra["CalibPercentile"] = 99.999
    quantize_static(
        source, dest, reader, quant_format=QuantFormat.QDQ,
        op_types_to_quantize=list(target.op_types) or None, per_channel=True, reduce_range=False,
        activation_type=types[target.activations], weight_type=types[target.weights],
        nodes_to_exclude=list(float_nodes) or None,
        calibrate_method={"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                          "entropy": CalibrationMethod.Entropy}[method],
        extra_options=extra)


def finish(path: str, opset: int):
    """The quantized graph at ``path``, tidied, checked: the opset it was
    exported with (at most MAX_OPSET) and nothing but 8-bit Q/DQ."""
    import onnx

    model = onnx.load(path)
    tidy(model)
    got = onnx_opset(model)
    if got != opset or got > MAX_OPSET:
        raise RuntimeError("{}: the quantizer wrote opset {}, expected {} (at most {}, what TensorRT 8.5 "
                           "parses)".format(path, got, opset, MAX_OPSET))
    foreign = sorted({n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx")})
    if foreign:
        raise RuntimeError("{}: the quantized graph uses non-standard operator domains {}".format(path, foreign))
    onnx.checker.check_model(model)
    return model


def count_quantized(model) -> Dict[str, int]:
    """How many weighted layers read 8-bit weights and how many stayed float."""
    producers = {out: node for node in model.graph.node for out in node.output}
    counts = {"int8": 0, "float": 0}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
            continue
        weight = producers.get(node.input[1]) if len(node.input) > 1 else None
        counts["int8" if weight is not None and weight.op_type == "DequantizeLinear" else "float"] += 1
    return counts


def node_names(model, op_types: Optional[Sequence[str]] = None) -> List[str]:
    return [n.name for n in model.graph.node if op_types is None or n.op_type in op_types]


def size_mb(path: str) -> float:
    return os.path.getsize(path) / 1e6
