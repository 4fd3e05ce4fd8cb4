"""Parameters, FLOPs and memory traffic of an ONNX graph, node by node.

    from fassst_rt.flops import count_graph
    cost = count_graph("NAME.onnx", dims={"B": 1})          # frame graph, batch 1
    tail = count_graph("NAME.tail.onnx", dims={"K": 1})     # tail graph, per instance
    print(cost.params, cost.flops / 1e9, "GFLOPs")
    for node in cost.nodes: node.op_type, node.flops, node.bytes_read, node.bytes_written

Shapes come from ``onnx.shape_inference`` after every input dimension has been
fixed (``input_shapes`` per input, or ``dims`` per symbolic dimension name;
anything left symbolic becomes ``default_dim``). Only initializer *shapes* are
read, never their values, so a graph whose initializers carry no data (as
``benchmarks/roofline.py`` builds its reference networks) is counted the same.

Conventions (what the numbers mean):

- **FLOPs = 2 x multiply-accumulates** for the layers that dominate networks:
  Conv (grouped and depthwise included: each output element costs
  Cin/group x kernel MACs), ConvTranspose (each *input* element is scattered
  into Cout/group x kernel outputs), Gemm and MatMul (M x N x K). Bias
  additions are not counted (the usual convention of published GFLOP counts).
- Everything else uses a small documented cost model, per output element
  unless stated: 1 FLOP for arithmetic and comparisons (Add, Sub, Mul, Div,
  Max, Min, Relu, Where, ...; variadic ops n-1), 2 for Clip, LeakyRelu, PRelu
  and BatchNormalization (scale and shift), 3 for HardSigmoid, 4 for
  HardSwish and for transcendental functions (Exp, Log, Sigmoid, Tanh, Erf,
  Sqrt, Pow, Softplus, Sin, Cos), 8 for Gelu, Mish and Softmax/LogSoftmax,
  5 per element for Instance/LayerNormalization; pooling: one FLOP per window
  tap (MaxPool, AveragePool) or per input element (global pooling, Reduce*);
  Resize: 0 for nearest, 2^d taps x 2 - 1 for linear (7 for bilinear), 31 per
  element for cubic in 2-D; RoiAlign: 8 per bilinear sample (4 samples per
  bin when sampling_ratio is 0, adaptive). Data movement (Reshape, Transpose,
  Concat, Slice, Gather, Expand, Pad, ...) and control (TopK,
  NonMaxSuppression) cost 0 FLOPs.
- **Static nodes** (Shape, and every node whose inputs are all constants or
  static) are what runtimes fold away at load time once the input size is
  fixed: they count 0 FLOPs and 0 bytes, and are flagged ``static``.
- **Bytes**: a node reads every input tensor (weights included) and writes
  every output tensor, once, at the tensor's element size: the unfused,
  no-reuse traffic that a per-layer roofline starts from. View ops (Reshape,
  Flatten, Squeeze, Unsqueeze, Identity, Dropout) move nothing.
- **Parameters**: elements of the floating-point initializers and Constant
  tensors the graph stores (for an exported network: its learned weights and
  a few small constants), each attributed to the first node that reads it;
  a Resize's roi and scales (Upsample's scales) are settings, not parameters.

Needs the ``onnx`` package (not ONNX Runtime).
"""

from typing import Dict, List, Mapping, Optional, Sequence, Union

__all__ = ["NodeCost", "GraphCost", "count_graph", "ELEMENTWISE_COST"]

# FLOPs per output element of element-wise ops (see the module docstring).
ELEMENTWISE_COST = {}  # type: Dict[str, int]
for _op in ("Add", "Sub", "Mul", "Div", "Neg", "Abs", "Relu", "Max", "Min", "Sum", "Mean", "Sign",
            "Floor", "Ceil", "Round", "Reciprocal", "Equal", "Less", "Greater", "LessOrEqual",
            "GreaterOrEqual", "And", "Or", "Not", "Xor", "Where", "Mod", "BitShift", "IsNaN", "IsInf"):
    ELEMENTWISE_COST[_op] = 1
for _op in ("Clip", "LeakyRelu", "PRelu", "BatchNormalization", "Elu", "Selu", "ThresholdedRelu",
            "Celu", "Shrink"):
    ELEMENTWISE_COST[_op] = 2
ELEMENTWISE_COST["HardSigmoid"] = 3
for _op in ("HardSwish", "Exp", "Log", "Sigmoid", "Tanh", "Erf", "Sqrt", "Pow", "Softplus",
            "Softsign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh",
            "Acosh", "Atanh"):
    ELEMENTWISE_COST[_op] = 4
for _op in ("Gelu", "Mish", "Softmax", "LogSoftmax", "Hardmax"):
    ELEMENTWISE_COST[_op] = 8
for _op in ("InstanceNormalization", "LayerNormalization", "GroupNormalization"):
    ELEMENTWISE_COST[_op] = 5
del _op

VIEW_OPS = frozenset(["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"])
SHAPE_OPS = frozenset(["Shape", "Size"])
REDUCE_OPS = frozenset(["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax",
                        "ArgMin", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
POOL_OPS = frozenset(["MaxPool", "AveragePool", "LpPool"])
# Inputs (by position) that hold settings, never parameters, even when stored as float tensors.
_NOT_PARAMETERS = {"Resize": (1, 2), "Upsample": (1,)}

# TensorProto element type -> bytes per element.
_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16,
             16: 2, 17: 1, 18: 1, 19: 1, 20: 1}
_FLOAT_TYPES = frozenset([1, 10, 11, 16, 17, 18, 19, 20])


class NodeCost(object):
    """One node's cost. ``flops`` and ``macs`` are per run of the graph at
    the counted input shapes; bytes are at the tensors' own element sizes;
    ``float_elements_read``/``_written`` count floating-point elements (for
    re-scaling the traffic to another precision)."""

    __slots__ = ("name", "op_type", "flops", "macs", "params", "bytes_read", "bytes_written",
                 "float_elements_read", "float_elements_written", "inputs", "outputs",
                 "output_shapes", "static", "note")

    def __init__(self, name, op_type):
        self.name = name
        self.op_type = op_type
        self.flops = 0
        self.macs = 0
        self.params = 0
        self.bytes_read = 0
        self.bytes_written = 0
        self.float_elements_read = 0
        self.float_elements_written = 0
        self.inputs = []  # type: List[str]
        self.outputs = []  # type: List[str]
        self.output_shapes = []  # type: List[Optional[List[int]]]
        self.static = False
        self.note = ""

    def to_dict(self) -> Dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return "NodeCost({} {}: {:.3g} FLOPs, {} B read, {} B written{})".format(
            self.op_type, self.name, self.flops, self.bytes_read, self.bytes_written,
            ", static" if self.static else "")


class GraphCost(object):
    """The cost of one graph at fixed input shapes."""

    def __init__(self, nodes: List[NodeCost], input_shapes: Dict[str, List[int]],
                 tensor_bytes: Dict[str, int], tensor_float_elements: Dict[str, int],
                 constants: frozenset, graph_outputs: List[str], warnings: List[str]) -> None:
        self.nodes = nodes
        self.input_shapes = input_shapes
        self.tensor_bytes = tensor_bytes
        self.tensor_float_elements = tensor_float_elements
        self.constants = constants  # initializers, Constant outputs, static node outputs
        self.graph_outputs = graph_outputs
        self.warnings = warnings

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def flops(self) -> int:
        return sum(n.flops for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def bytes_read(self) -> int:
        return sum(n.bytes_read for n in self.nodes)

    @property
    def bytes_written(self) -> int:
        return sum(n.bytes_written for n in self.nodes)

    def by_op(self) -> Dict[str, Dict[str, int]]:
        """Totals per op type: count, flops, bytes."""
        table = {}  # type: Dict[str, Dict[str, int]]
        for n in self.nodes:
            if n.static:
                continue
            row = table.setdefault(n.op_type, {"count": 0, "flops": 0, "bytes": 0})
            row["count"] += 1
            row["flops"] += n.flops
            row["bytes"] += n.bytes_read + n.bytes_written
        return table

    def summary(self) -> Dict[str, object]:
        return {"params": self.params, "flops": self.flops, "macs": self.macs,
                "bytes_read": self.bytes_read, "bytes_written": self.bytes_written,
                "nodes": len(self.nodes), "static_nodes": sum(1 for n in self.nodes if n.static),
                "input_shapes": self.input_shapes, "warnings": list(self.warnings)}


# ---------------------------------------------------------------- loading

def _load(model):
    import onnx

    if isinstance(model, onnx.ModelProto):
        proto = onnx.ModelProto()
        proto.CopyFrom(model)
        return proto
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_model_from_string(bytes(model))
    return onnx.load(str(model), load_external_data=False)


def _fix_inputs(proto, input_shapes: Mapping[str, Sequence[int]], dims: Mapping[str, int],
                default_dim: int) -> Dict[str, List[int]]:
    initializers = set(t.name for t in proto.graph.initializer)
    fixed = {}
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        if value.name in input_shapes:
            shape = [int(d) for d in input_shapes[value.name]]
            del tensor.shape.dim[:]
            for d in shape:
                tensor.shape.dim.add().dim_value = d
        else:
            shape = []
            for d in tensor.shape.dim:
                if d.HasField("dim_value") and d.dim_value > 0:
                    shape.append(d.dim_value)
                else:
                    v = int(dims.get(d.dim_param, default_dim)) if d.HasField("dim_param") else default_dim
                    d.Clear()
                    d.dim_value = v
                    shape.append(v)
        fixed[value.name] = shape
    # Outputs and intermediate value_info may carry symbolic dims that would
    # contradict the fixed ones: let inference recompute them.
    del proto.graph.value_info[:]
    for value in proto.graph.output:
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            tensor.ClearField("shape")
    return fixed


def _shape_of(type_proto) -> Optional[List[int]]:
    tensor = type_proto.tensor_type
    if not tensor.HasField("shape"):
        return None
    shape = []
    for d in tensor.shape.dim:
        if not d.HasField("dim_value"):
            return None
        shape.append(int(d.dim_value))
    return shape


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            from onnx import helper
            return helper.get_attribute_value(a)
    return default


# ---------------------------------------------------------------- counting

def count_graph(model: Union[str, bytes, object], input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
                dims: Optional[Mapping[str, int]] = None, default_dim: int = 1) -> GraphCost:
    """Counts parameters, FLOPs and bytes of every node of ``model`` (a path,
    serialized bytes or an ``onnx.ModelProto``, which is not modified).

    Args:
        input_shapes: full shapes for named graph inputs.
        dims: values for symbolic dimension names (e.g. ``{"B": 1, "K": 8}``).
        default_dim: the value of any dimension still unknown.
    """
    import onnx
    from onnx import shape_inference

    proto = _load(model)
    fixed = _fix_inputs(proto, input_shapes or {}, dims or {}, default_dim)
    warnings = []  # type: List[str]
    try:
        inferred = shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
    except Exception as exc:  # keep what can be counted; say what could not
        warnings.append("shape inference failed ({}: {}); counting with declared shapes only"
                        .format(type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""))
        inferred = proto
    graph = inferred.graph

    shapes = {}  # type: Dict[str, List[int]]
    elem_type = {}  # type: Dict[str, int]
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        s = _shape_of(value.type)
        if s is not None:
            shapes[value.name] = s
        elem_type[value.name] = value.type.tensor_type.elem_type
    constants = set()
    stored = {}  # name -> float elements stored in the graph (parameters)
    for t in graph.initializer:
        shapes[t.name] = [int(d) for d in t.dims]
        elem_type[t.name] = t.data_type
        constants.add(t.name)
        if t.data_type in _FLOAT_TYPES:
            stored[t.name] = _prod(t.dims)
    for node in graph.node:
        if node.op_type == "Constant":
            value = _attr(node, "value")
            if value is not None:
                shapes[node.output[0]] = [int(d) for d in value.dims]
                elem_type[node.output[0]] = value.data_type
                if value.data_type in _FLOAT_TYPES:
                    stored[node.output[0]] = _prod(value.dims)
            constants.add(node.output[0])

    def nbytes(name: str) -> int:
        s = shapes.get(name)
        if s is None:
            return 0
        return _prod(s) * _ITEMSIZE.get(elem_type.get(name, 1), 4)

    def nfloat(name: str) -> int:
        s = shapes.get(name)
        if s is None or elem_type.get(name, 1) not in _FLOAT_TYPES:
            return 0
        return _prod(s)

    attributed = set()
    nodes = []  # type: List[NodeCost]
    tensor_bytes = {}  # type: Dict[str, int]
    tensor_float = {}  # type: Dict[str, int]
    unknown = []
    for i, node in enumerate(graph.node):
        cost = NodeCost(node.name or "{}_{}".format(node.op_type, i), node.op_type)
        cost.inputs = [x for x in node.input if x]
        cost.outputs = [y for y in node.output if y]
        cost.output_shapes = [shapes.get(y) for y in cost.outputs]
        skip = _NOT_PARAMETERS.get(node.op_type, ())
        for j, x in enumerate(node.input):
            if x and j not in skip and x in stored and x not in attributed:
                cost.params += stored[x]
                attributed.add(x)
        for name in cost.inputs + cost.outputs:
            tensor_bytes[name] = nbytes(name)
            tensor_float[name] = nfloat(name)
        if node.op_type == "Constant" or node.op_type in SHAPE_OPS or all(x in constants for x in cost.inputs):
            cost.static = True
            constants.update(cost.outputs)
            nodes.append(cost)
            continue
        if any(s is None for s in cost.output_shapes) or any(x not in shapes for x in cost.inputs):
            unknown.append(cost.name)
            cost.note = "shape unknown: not counted"
            nodes.append(cost)
            continue
        if node.op_type not in VIEW_OPS:
            cost.bytes_read = sum(nbytes(x) for x in cost.inputs)
            cost.bytes_written = sum(nbytes(y) for y in cost.outputs)
            cost.float_elements_read = sum(nfloat(x) for x in cost.inputs)
            cost.float_elements_written = sum(nfloat(y) for y in cost.outputs)
        _flops(node, cost, shapes, warnings)
        nodes.append(cost)
    if unknown:
        warnings.append("{} node(s) with unknown shapes were not counted: {}".format(
            len(unknown), ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")))
    return GraphCost(nodes, fixed, tensor_bytes, tensor_float, frozenset(constants),
                     [o.name for o in graph.output], warnings)


def _flops(node, cost: NodeCost, shapes: Dict[str, List[int]], warnings: List[str]) -> None:
    op = node.op_type
    out = cost.output_shapes[0] if cost.output_shapes else None
    out_elems = _prod(out) if out is not None else 0
    ins = [shapes.get(x) if x else None for x in node.input]

    if op == "Conv":
        w = ins[1]  # (Cout, Cin/group, k...)
        cost.macs = out[0] * out[1] * _prod(out[2:]) * w[1] * _prod(w[2:])
    elif op == "ConvTranspose":
        x, w = ins[0], ins[1]  # x (N, Cin, ...), w (Cin, Cout/group, k...)
        cost.macs = x[0] * x[1] * _prod(x[2:]) * w[1] * _prod(w[2:])
    elif op == "Gemm":
        a, b = ins[0], ins[1]
        m = a[1] if _attr(node, "transA", 0) else a[0]
        k = a[0] if _attr(node, "transA", 0) else a[1]
        n = b[0] if _attr(node, "transB", 0) else b[1]
        cost.macs = m * n * k
    elif op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
        a = ins[0]
        k = a[-1] if a else 0
        cost.macs = max(out_elems, 1) * k if out is not None else 0
    elif op in ELEMENTWISE_COST:
        per = ELEMENTWISE_COST[op]
        if op in ("Sum", "Mean", "Max", "Min") and len(cost.inputs) > 2:
            per = len(cost.inputs) - 1
        cost.flops = per * out_elems
    elif op in POOL_OPS:
        kernel = _attr(node, "kernel_shape", [])
        cost.flops = out_elems * _prod(kernel)
    elif op in REDUCE_OPS:
        cost.flops = _prod(ins[0]) if ins[0] else 0
    elif op in ("Resize", "Upsample"):
        mode = _attr(node, "mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        x = ins[0]
        resized = sum(1 for a, b in zip(x, out) if a != b) if x else 2
        if mode == "nearest":
            per = 0
        elif mode in ("linear", "bilinear"):
            per = 2 * (2 ** max(resized, 1)) - 1
        else:  # cubic
            per = 2 * (4 ** max(resized, 1)) - 1
        cost.flops = per * out_elems
    elif op == "RoiAlign":
        ratio = int(_attr(node, "sampling_ratio", 0))
        samples = ratio * ratio if ratio > 0 else 4
        cost.flops = 8 * samples * out_elems
    elif op == "Einsum":
        warnings.append("{}: Einsum FLOPs are not modelled (counted as 0)".format(cost.name))
    if cost.macs:
        cost.flops = 2 * cost.macs
