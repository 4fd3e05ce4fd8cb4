"""An FP16-typed copy of an ONNX graph, for TensorRT 11's strongly typed
networks (it has no FP16 builder flag: an FP16 engine comes from FP16 types
in the graph).

Every float32 weight, constant and intermediate tensor becomes float16; the
graph's inputs and outputs stay float32 (a Cast after each input and before
each output), so the runtime feeds and reads the engine exactly as before.
Weights beyond float16's range are clipped to it. The few operands ONNX
requires to be float32 whatever the data type (Resize's and Upsample's
``scales``) stay float32.

Needs the onnx package (where TensorRT 11 runs, Python is new enough for it).
"""

from typing import Any, Dict, List, Set

import numpy as np

FP16_MAX = float(np.finfo(np.float16).max)

# (op type, input index) operands that are float32 whatever the data's type
FLOAT32_OPERANDS = {("Resize", 2), ("Upsample", 1)}
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


class Fp16ConversionError(ValueError):
    pass


def _half(array: np.ndarray) -> np.ndarray:
    half = np.clip(array, -FP16_MAX, FP16_MAX).astype(np.float16)  # type: np.ndarray
    return half


def _half_tensor(tensor: Any) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(_half(numpy_helper.to_array(tensor)), tensor.name)


def convert(model: Any) -> Any:
    """A converted copy of ``model`` (an onnx.ModelProto); the original is
    left unchanged. Raises Fp16ConversionError for graphs it cannot convert
    (Q/DQ graphs: opset 17 quantizes float32 only; control flow)."""
    import onnx
    from onnx import TensorProto, helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    for node in graph.node:
        if node.op_type in QDQ_OPS:
            raise Fp16ConversionError("the graph holds Q/DQ operators (an INT8 model): opset 17 quantizes "
                                      "float32 tensors only, so it cannot be made FP16-typed")
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise Fp16ConversionError("node {!r} ({}) has a subgraph; control flow is not converted".format(
                node.name, node.op_type))

    keep32 = set()  # type: Set[str]
    for node in graph.node:
        for index, name in enumerate(node.input):
            if (node.op_type, index) in FLOAT32_OPERANDS and name:
                keep32.add(name)
    initializers = {i.name for i in graph.initializer}
    for index, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT and init.name not in keep32:
            graph.initializer[index].CopyFrom(_half_tensor(init))

    for node in graph.node:
        for attribute in node.attribute:
            if node.op_type in ("Constant", "ConstantOfShape") and attribute.name == "value" \
                    and attribute.t.data_type == TensorProto.FLOAT and not set(node.output) & keep32:
                attribute.t.CopyFrom(_half_tensor(attribute.t))
            elif node.op_type == "Cast" and attribute.name == "to" and attribute.i == TensorProto.FLOAT:
                attribute.i = TensorProto.FLOAT16
        if node.op_type == "Constant" and any(a.name in ("value_float", "value_floats") for a in node.attribute):
            values = [a for a in node.attribute if a.name in ("value_float", "value_floats")][0]
            array = np.array(values.f if values.name == "value_float" else list(values.floats), np.float32)
            del node.attribute[:]
            node.attribute.extend([helper.make_attribute("value", _half_tensor(
                helper.make_tensor("value", TensorProto.FLOAT, array.shape, array.ravel().tolist())))])

    # Operands that must stay float32 but are computed: cast them back.
    new_nodes = []  # type: List[Any]
    for node in graph.node:
        for index, name in enumerate(node.input):
            if (node.op_type, index) in FLOAT32_OPERANDS and name and name not in initializers:
                cast = name + "__float32"
                new_nodes.append(helper.make_node("Cast", [name], [cast], name=cast, to=TensorProto.FLOAT))
                node.input[index] = cast
        new_nodes.append(node)

    # float32 inputs and outputs, as the runtime feeds and reads them
    renamed = {}  # type: Dict[str, str]
    head = []  # type: List[Any]
    for value in graph.input:
        if value.name in initializers or value.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = value.name + "__fp16"
        renamed[value.name] = half
        head.append(helper.make_node("Cast", [value.name], [half], name=half, to=TensorProto.FLOAT16))
    for node in new_nodes:
        for index, name in enumerate(node.input):
            if name in renamed:
                node.input[index] = renamed[name]
    tail = []  # type: List[Any]
    for value in graph.output:
        if value.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = value.name + "__fp16"
        for node in new_nodes:
            for index, name in enumerate(node.output):
                if name == value.name:
                    node.output[index] = half
            for index, name in enumerate(node.input):  # an output read inside the graph too
                if name == value.name:
                    node.input[index] = half
        tail.append(helper.make_node("Cast", [half], [value.name], name=value.name + "__float32",
                                     to=TensorProto.FLOAT))
    del graph.node[:]
    graph.node.extend(head + new_nodes + tail)

    # Intermediate type annotations follow; shape inference re-derives them.
    del graph.value_info[:]
    try:
        checked = onnx.shape_inference.infer_shapes(out, check_type=True, strict_mode=True)
    except Exception as exc:  # onnx raises its own InferenceError types
        raise Fp16ConversionError("the FP16 graph does not type-check: {}".format(exc)) from None
    onnx.checker.check_model(checked)
    return checked


def convert_file(source: str, dest: str) -> None:
    import onnx

    onnx.save(convert(onnx.load(source)), dest)
