"""Graph plumbing around ONNX Runtime's quantizer: preparing a float graph,
quantizing it, and checking and tidying what comes out (the onnx package and
onnxruntime.quantization are needed here, and only here)."""

import os
from typing import Dict, List, Optional, Sequence

import numpy as np

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


def unshare_parameters(model) -> int:
    """Gives every weighted layer its own copy of a weight or bias that
    several layers share (ONNX Runtime's optimizer merges equal constants).
    A bias is quantized with its layer's input and weight scales, so a shared
    one cannot serve two layers; older quantizers (ONNX Runtime 1.19, the
    last for Python 3.8) quantize it once for the first layer and silently
    give the others wrong biases. Returns how many copies were made."""
    initializers = {i.name: i for i in model.graph.initializer}
    seen = set()  # type: set
    copies = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            continue
        for index in range(1, len(node.input)):
            name = node.input[index]
            if name not in initializers:
                continue
            if name in seen:
                copy = model.graph.initializer.add()
                copy.CopyFrom(initializers[name])
                copy.name = "{}__{}".format(name, node.name or copies)
                node.input[index] = copy.name
                copies += 1
            else:
                seen.add(name)
    return copies


def prepare(source: str, dest: str) -> None:
    """``source`` with shapes inferred and constants folded (ONNX Runtime's
    quantization pre-processing, basic optimisations only: standard ONNX
    operators stay standard), tidied, written to ``dest``."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    graph_input = onnx.load(source, load_external_data=False).graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    # A stride-grid frame graph's height and width are free: the symbolic
    # shape inference cannot resolve its reshapes, ONNX's own inference can.
    free_size = any(d.dim_param or not d.dim_value for d in dims[2:])
    quant_pre_process(source, dest, skip_symbolic_shape=free_size)
    model = onnx.load(dest)
    tidy(model)
    unshare_parameters(model)
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


def restore_unrepresentable_biases(model, float_model) -> List[str]:
    """Puts back the float bias of every layer whose 32-bit quantized bias
    does not reproduce it: a bias is quantized with the scale input scale x
    weight scale, and where an input's range is nearly zero (a channel that
    never fires) the quotient leaves int32, is clipped or becomes garbage
    (ONNX Runtime 1.19 casts the overflow to INT_MIN). Those layers keep a
    float bias, which is exact. Returns their names."""
    from onnx import numpy_helper

    float_init = {i.name: i for i in float_model.graph.initializer}
    float_bias = {n.name: n.input[2] for n in float_model.graph.node
                  if n.op_type in ("Conv", "ConvTranspose") and len(n.input) > 2 and n.input[2] in float_init}
    init = {i.name: i for i in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    restored = []
    for node in model.graph.node:
        if node.name not in float_bias or len(node.input) < 3:
            continue
        dq = producers.get(node.input[2])
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in init or dq.input[1] not in init:
            continue
        q = numpy_helper.to_array(init[dq.input[0]]).astype(np.float64)
        scale = numpy_helper.to_array(init[dq.input[1]]).astype(np.float64)
        want = numpy_helper.to_array(float_init[float_bias[node.name]]).astype(np.float64)
        tolerance = np.maximum(np.abs(scale), 1e-6 * np.maximum(np.abs(want), 1.0))
        if np.all(np.isfinite(q * scale)) and np.all(np.abs(q * scale - want) <= tolerance):
            continue
        name = node.input[2] + "_float"
        if name not in init:
            tensor = numpy_helper.from_array(want.astype(np.float32), name)
            model.graph.initializer.append(tensor)
            init[name] = tensor
        node.input[2] = name
        restored.append(node.name)
    if restored:  # drop the DequantizeLinear nodes (and their constants) nothing reads any more
        used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
        dead = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and not set(n.output) & used]
        for node in dead:
            model.graph.node.remove(node)
        used = {i for n in model.graph.node for i in n.input}
        for tensor in [t for t in model.graph.initializer if t.name not in used]:
            model.graph.initializer.remove(tensor)
    return restored


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
