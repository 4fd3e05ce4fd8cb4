"""Per-layer roofline estimate of a FASSST model on a device it is not running
on, calibrated against published measurements of well-known networks on that
device (benchmarks/devices.py). The output is an ESTIMATE, and says so.

    python benchmarks/roofline.py MODEL.onnx --device xavier [--precision fp16] [--instances 8]
    python benchmarks/roofline.py --references --device xavier      # the calibration table

Model. The frame graph (batch 1), the ROI feature fusion kernel (analytic) and
the tail graph (batch K) are counted by fassst_rt.flops. Nodes are grouped
the way TensorRT fuses them: a Conv / ConvTranspose / Gemm / MatMul absorbs the
element-wise ops that follow it (bias, activation, SiLU's Sigmoid x Mul, a
residual Add) when they have the same shape, and a tensor consumed only inside
its group never touches memory. Static (shape) nodes are folded away; view
ops (Reshape, Squeeze, ...) move nothing. For each group,

    time = max(FLOPs / device peak at the precision, bytes / device bandwidth)

with every tensor and weight read or written once at the precision's element
size; the raw estimate is the sum over groups. Raw rooflines are optimistic
(no launch overheads, no partial occupancy, perfect caching of nothing but
fused intermediates), so the estimate is calibrated:

    calibration factor k = published measured latency / raw roofline of the same
                           network, built here, on the same device and precision
    estimate = raw roofline of our model x k

k is taken from the reference whose raw roofline time is closest to our
model's (log scale), at the same precision when one exists; the range over all
same-precision references is reported with it. k inherits what the published
time includes (for example Python pre/post-processing on the Xavier NX).

The reference networks (YOLOv3, YOLOv3-tiny, YOLO11 n..x) are rebuilt here as
ONNX graphs from their published configurations, with shape-only weights (no
data), and counted by the same code as our model; tests/test_flops.py checks
them against their published FLOP and parameter counts.
"""

import argparse
import json
import math
import os
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import devices as devices_mod  # noqa: E402  (benchmarks/ helper)

from fassst_rt.atomic import atomic_write_text  # noqa: E402
from fassst_rt.flops import GraphCost, count_graph  # noqa: E402

COMPUTE_OPS = frozenset(["Conv", "ConvTranspose", "Gemm", "MatMul"])
FUSABLE = frozenset(["Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid",
                     "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Softplus", "Mish", "Gelu",
                     "BatchNormalization"])
VIEW_OPS = frozenset(["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"])
ESTIMATE_LABEL = "ESTIMATE"


# ------------------------------------------------------------------- roofline

def _bytes_at(cost: GraphCost, tensor: str, element_bytes: int) -> float:
    total = cost.tensor_bytes.get(tensor, 0)
    floats = cost.tensor_float_elements.get(tensor, 0)
    return total - floats * 4 + floats * element_bytes


def fused_groups(cost: GraphCost) -> List[Dict[str, object]]:
    """Groups of nodes as a fusing runtime runs them (see the module docstring)."""
    nodes = [n for n in cost.nodes if not n.static]
    producer = {}  # tensor -> group index
    shape_of = {}
    groups = []  # type: List[Dict[str, object]]
    for n in nodes:
        for t, s in zip(n.outputs, n.output_shapes):
            shape_of[t] = s
    for n in nodes:
        target = None
        if n.op_type in FUSABLE:
            acts = [t for t in n.inputs if t not in cost.constants]
            cands = [producer[t] for t in acts if t in producer and groups[producer[t]]["anchor"]]
            same = bool(n.output_shapes) and all(shape_of.get(t) == n.output_shapes[0] for t in acts)
            if cands and same:
                target = max(cands)
        if target is None:
            groups.append({"nodes": [], "anchor": n.op_type in COMPUTE_OPS, "view": n.op_type in VIEW_OPS})
            target = len(groups) - 1
        groups[target]["nodes"].append(n)
        for t in n.outputs:
            producer[t] = target
    consumers = {}  # tensor -> set of groups reading it
    for g, group in enumerate(groups):
        for n in group["nodes"]:
            for t in n.inputs:
                consumers.setdefault(t, set()).add(g)
    outputs = set(cost.graph_outputs)
    for g, group in enumerate(groups):
        inside = set(t for n in group["nodes"] for t in n.outputs)
        reads = []
        for n in group["nodes"]:
            for t in n.inputs:
                if t not in inside and t not in reads:
                    reads.append(t)
        writes = [t for t in inside if t in outputs or consumers.get(t, set()) - {g}]
        group["reads"], group["writes"] = reads, writes
        group["flops"] = sum(n.flops for n in group["nodes"])
        first = group["nodes"][0]
        group["name"] = first.name
        group["ops"] = "+".join(n.op_type for n in group["nodes"])
    return groups


def roofline(cost: GraphCost, device: Dict[str, object], precision: str) -> Dict[str, object]:
    """Raw per-group roofline of one graph run on ``device`` at ``precision``."""
    peak = float(device["peak_ops"][precision])
    bw = float(device["bandwidth"])
    eb = devices_mod.BYTES_PER_ELEMENT[precision]
    rows = []
    for group in fused_groups(cost):
        if group["view"]:
            nbytes = 0.0
        else:
            nbytes = sum(_bytes_at(cost, t, eb) for t in group["reads"]) + \
                sum(_bytes_at(cost, t, eb) for t in group["writes"])
        t_compute = group["flops"] / peak
        t_memory = nbytes / bw
        rows.append({"name": group["name"], "ops": group["ops"], "flops": group["flops"], "bytes": nbytes,
                     "ms": max(t_compute, t_memory) * 1e3,
                     "bound": "compute" if t_compute >= t_memory else "memory"})
    return {"ms": sum(r["ms"] for r in rows), "flops": sum(r["flops"] for r in rows),
            "bytes": sum(r["bytes"] for r in rows), "layers": rows}


def rff_roofline(num_rois: int, channels: int, roi_size: int, device: Dict[str, object],
                 precision: str) -> Dict[str, object]:
    """The ROI feature fusion kernel, analytically: R1 at S1, R2 at S1/2, R3 at S1/4 bilinear
    samples (7 FLOPs each), two x2 bilinear upsamplings (7 each), two adds and a ReLU; one
    read per sample (neighbouring taps share cache lines) and one write per output."""
    s1, s2, s3 = roi_size, roi_size // 2, roi_size // 4
    per_roi = channels * (s1 * s1 * (7 + 7 + 1 + 1) + s2 * s2 * (7 + 7 + 1) + s3 * s3 * 7)
    flops = num_rois * per_roi
    elements = num_rois * channels * (s1 * s1 * 2 + s2 * s2 + s3 * s3)
    nbytes = elements * devices_mod.BYTES_PER_ELEMENT[precision]
    t = max(flops / float(device["peak_ops"][precision]), nbytes / float(device["bandwidth"]))
    return {"ms": t * 1e3, "flops": flops, "bytes": nbytes}


# ---------------------------------------------------------------- calibration

_REF_CACHE = {}  # type: Dict[str, GraphCost]


def reference_cost(network: str, batch: int = 1) -> GraphCost:
    key = "{}@{}".format(network, batch)
    if key not in _REF_CACHE:
        _REF_CACHE[key] = count_graph(reference_network(network), dims={"B": batch})
    return _REF_CACHE[key]


def calibration(device_name: str) -> List[Dict[str, object]]:
    """Every reference for ``device_name``: measured ms, raw roofline ms, k."""
    rows = []
    for ref in devices_mod.references_for(device_name):
        dev = devices_mod.device(str(ref["device"]))
        batch = int(ref["batch"])
        raw = roofline(reference_cost(str(ref["network"]), batch), dev, str(ref["precision"]))
        raw_ms = raw["ms"] / batch
        rows.append(dict(ref, raw_roofline_ms=raw_ms, gflops=raw["flops"] / batch / 1e9,
                         k=float(ref["latency_ms"]) / raw_ms, measured_on=dev["name"]))
    return rows


def calibrate(device_name: str, precision: str, raw_ms: float) -> Dict[str, object]:
    """The factor k for a model whose raw roofline is ``raw_ms``: interpolated on log-log axes
    between the two references (same precision when any exists) whose raw rooflines bracket
    ``raw_ms``; outside their span, the nearest reference's k."""
    rows = calibration(device_name)
    same = [r for r in rows if r["precision"] == precision]
    pool = sorted(same or rows, key=lambda r: r["raw_roofline_ms"])
    ks = [r["k"] for r in pool]
    below = [r for r in pool if r["raw_roofline_ms"] <= raw_ms]
    above = [r for r in pool if r["raw_roofline_ms"] > raw_ms]
    if below and above:
        lo, hi = below[-1], above[0]
        f = math.log(raw_ms / lo["raw_roofline_ms"]) / math.log(hi["raw_roofline_ms"] / lo["raw_roofline_ms"])
        k = math.exp(math.log(lo["k"]) + f * (math.log(hi["k"]) - math.log(lo["k"])))
        used = [lo, hi]
    else:
        nearest = below[-1] if below else above[0]
        k, used = nearest["k"], [nearest]
    span = (pool[0]["raw_roofline_ms"], pool[-1]["raw_roofline_ms"])
    return {"k": k, "k_min": min(ks), "k_max": max(ks), "used": used, "same_precision": bool(same),
            "extrapolated": not span[0] <= raw_ms <= span[1], "span_ms": span, "references": rows}


def estimate(frame: GraphCost, tail: Optional[GraphCost], num_instances: int, mask_channels: int,
             roi_size: int, device_name: str, precision: Optional[str] = None) -> Dict[str, object]:
    """Calibrated roofline ESTIMATE of one frame with ``num_instances`` instances: frame graph
    + RFF kernel + tail graph (``tail`` counted at K = num_instances)."""
    dev = devices_mod.device(device_name)
    precision = precision or str(dev["default_precision"])
    parts = {"frame_graph": roofline(frame, dev, precision)}
    if num_instances > 0 and tail is not None:
        parts["rff_kernel"] = rff_roofline(num_instances, mask_channels, roi_size, dev, precision)
        parts["tail_graph"] = roofline(tail, dev, precision)
    raw_ms = sum(p["ms"] for p in parts.values())
    cal = calibrate(device_name, precision, raw_ms)
    ms = raw_ms * cal["k"]
    used = "; ".join("{} {} batch {} on {}: {:.2f} ms measured / {:.3f} ms raw roofline = k {:.2f} "
                     "(includes: {})".format(r["network"], r["precision"], r["batch"], r["measured_on"],
                                             r["latency_ms"], r["raw_roofline_ms"], r["k"], r["includes"])
                     for r in cal["used"])
    return {
        "label": ESTIMATE_LABEL,
        "device": device_name, "device_name": dev["name"], "precision": precision,
        "instances": num_instances,
        "raw_roofline_ms": raw_ms,
        "raw_parts_ms": {k: v["ms"] for k, v in parts.items()},
        "gflops": sum(p["flops"] for p in parts.values()) / 1e9,
        "calibration_k": cal["k"], "calibration_k_range": [cal["k_min"], cal["k_max"]],
        "calibration_references_used": used,
        "calibration_rule": "k interpolated on log-log axes between the bracketing references' "
                            "raw rooflines (nearest one outside their span)",
        "calibration_same_precision": cal["same_precision"],
        "calibration_extrapolated": cal["extrapolated"],
        "calibration_span_ms": list(cal["span_ms"]),
        "estimate_ms": ms, "estimate_fps": 1e3 / ms,
        "estimate_ms_range": [raw_ms * cal["k_min"], raw_ms * cal["k_max"]],
        "excludes": "letterbox, select and paste (CPU side), host-device copies",
        "layers": parts["frame_graph"]["layers"],
    }


# ------------------------------------------------- reference networks (shape-only ONNX)

class _Graph(object):
    """A tiny ONNX graph builder: weights are initializers with dims and no data (the
    FLOP counter reads shapes only); small int64 tensors (shapes, split sizes) carry
    their values."""

    def __init__(self, name: str, channels: int, size: int) -> None:
        self.name = name
        self.nodes = []
        self.inits = []
        self.count = 0
        self.input = ("images", channels, size, size)

    def _n(self, prefix: str) -> str:
        self.count += 1
        return "{}{}".format(prefix, self.count)

    def _weight(self, dims: Sequence[int]) -> str:
        from onnx import TensorProto
        t = TensorProto()
        t.name = self._n("w")
        t.data_type = TensorProto.FLOAT
        t.dims.extend(int(d) for d in dims)
        self.inits.append(t)
        return t.name

    def _ints(self, values: Sequence[int]) -> str:
        import numpy as np
        from onnx import numpy_helper
        t = numpy_helper.from_array(np.asarray(values, np.int64), self._n("i"))
        self.inits.append(t)
        return t.name

    def _floats(self, values: Sequence[float]) -> str:
        import numpy as np
        from onnx import numpy_helper
        t = numpy_helper.from_array(np.asarray(values, np.float32), self._n("f"))
        self.inits.append(t)
        return t.name

    def node(self, op: str, inputs: Sequence[str], n_out: int = 1, **attrs) -> List[str]:
        from onnx import helper
        outs = [self._n("t") for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=self._n(op + "_"), **attrs))
        return outs

    def conv(self, x, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, act: Optional[str] = "silu",
             bias: bool = True):
        """x is (name, C, H, W); returns the same for the output."""
        name, _, h, w = x
        p = k // 2
        inputs = [name, self._weight([c2, c1 // g, k, k])] + ([self._weight([c2])] if bias else [])
        y = self.node("Conv", inputs, kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p], group=g)[0]
        if act == "silu":
            y = self.node("Mul", [y, self.node("Sigmoid", [y])[0]])[0]
        elif act == "leaky":
            y = self.node("LeakyRelu", [y], alpha=0.1)[0]
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        return (y, c2, ho, wo)

    def maxpool(self, x, k: int, s: int, pads: Sequence[int]):
        name, c, h, w = x
        y = self.node("MaxPool", [name], kernel_shape=[k, k], strides=[s, s], pads=list(pads))[0]
        return (y, c, (h + pads[0] + pads[2] - k) // s + 1, (w + pads[1] + pads[3] - k) // s + 1)

    def up2(self, x):
        name, c, h, w = x
        y = self.node("Resize", [name, "", self._floats([1.0, 1.0, 2.0, 2.0])], mode="nearest")[0]  # any batch
        return (y, c, 2 * h, 2 * w)

    def concat(self, xs):
        y = self.node("Concat", [x[0] for x in xs], axis=1)[0]
        return (y, sum(x[1] for x in xs), xs[0][2], xs[0][3])

    def add(self, a, b):
        return (self.node("Add", [a[0], b[0]])[0],) + tuple(a[1:])

    def split(self, x, sizes: Sequence[int]):
        outs = self.node("Split", [x[0], self._ints(sizes)], n_out=len(sizes), axis=1)
        return [(o, c, x[2], x[3]) for o, c in zip(outs, sizes)]

    def model(self, outputs):
        from onnx import TensorProto, helper
        name, c, h, w = self.input
        graph = helper.make_graph(
            self.nodes, self.name, [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["B", c, h, w])],
            [helper.make_tensor_value_info(o[0], TensorProto.FLOAT, None) for o in outputs],
            initializer=self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def yolov3_tiny(size: int = 416, num_classes: int = 80):
    """Darknet cfg/yolov3-tiny.cfg (BN folded into conv biases, LeakyReLU 0.1)."""
    g = _Graph("yolov3-tiny-{}".format(size), 3, size)
    out_c = 3 * (num_classes + 5)
    x = (g.input[0], 3, size, size)
    route8 = None
    for i, c in enumerate([16, 32, 64, 128, 256, 512]):
        x = g.conv(x, x[1], c, 3, act="leaky")
        if i == 4:
            route8 = x
        x = g.maxpool(x, 2, 2, [0, 0, 0, 0]) if i < 5 else g.maxpool(x, 2, 1, [0, 0, 1, 1])
    x = g.conv(x, 512, 1024, 3, act="leaky")
    x13 = g.conv(x, 1024, 256, 1, act="leaky")
    y = g.conv(x13, 256, 512, 3, act="leaky")
    out1 = g.conv(y, 512, out_c, 1, act=None)
    y = g.up2(g.conv(x13, 256, 128, 1, act="leaky"))
    y = g.conv(g.concat([y, route8]), 384, 256, 3, act="leaky")
    out2 = g.conv(y, 256, out_c, 1, act=None)
    return g.model([out1, out2])


def yolov3(size: int = 416, num_classes: int = 80):
    """Darknet cfg/yolov3.cfg: Darknet-53 and the three-scale head."""
    g = _Graph("yolov3-{}".format(size), 3, size)
    out_c = 3 * (num_classes + 5)

    def block(x, c):
        return g.add(x, g.conv(g.conv(x, c, c // 2, 1, act="leaky"), c // 2, c, 3, act="leaky"))

    x = g.conv((g.input[0], 3, size, size), 3, 32, 3, act="leaky")
    taps = []
    for c, n in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
        x = g.conv(x, c // 2, c, 3, 2, act="leaky")
        for _ in range(n):
            x = block(x, c)
        taps.append(x)
    outs = []
    route = None
    for level, (c, tap) in enumerate(zip((1024, 512, 256), (taps[4], taps[3], taps[2]))):
        if route is not None:
            x = g.concat([g.up2(g.conv(route, route[1], c // 2, 1, act="leaky")), tap])
        else:
            x = tap
        for j in range(2):
            x = g.conv(x, x[1], c // 2, 1, act="leaky")
            x = g.conv(x, c // 2, c, 3, act="leaky")
        route = g.conv(x, c, c // 2, 1, act="leaky")
        y = g.conv(route, c // 2, c, 3, act="leaky")
        outs.append(g.conv(y, c, out_c, 1, act=None))
    return g.model(outs)


def _make_divisible(x: float, divisor: int = 8) -> int:
    return int(math.ceil(x / divisor) * divisor)


def yolo11(scale: str = "n", size: int = 640, num_classes: int = 80):
    """Ultralytics cfg/models/11/yolo11.yaml (detect), BatchNorm folded into conv biases,
    as Ultralytics fuses it; the attention's scalar scale multiply is left out."""
    depth, width, max_c = {"n": (0.50, 0.25, 1024), "s": (0.50, 0.50, 1024), "m": (0.50, 1.00, 512),
                           "l": (1.00, 1.00, 512), "x": (1.00, 1.50, 512)}[scale]
    c3k_forced = scale in "mlx"
    g = _Graph("yolo11{}-{}".format(scale, size), 3, size)

    def ch(c):
        return _make_divisible(min(c, max_c) * width, 8)

    def reps(n):
        return max(round(n * depth), 1) if n > 1 else n

    def bottleneck(x, c1, c2, shortcut=True, k=(3, 3), e=0.5):
        c_ = int(c2 * e)
        y = g.conv(g.conv(x, c1, c_, k[0]), c_, c2, k[1])
        return g.add(x, y) if shortcut and c1 == c2 else y

    def c3k(x, c1, c2, n=2, shortcut=True, e=0.5):
        c_ = int(c2 * e)
        a = g.conv(x, c1, c_, 1)
        for _ in range(n):
            a = bottleneck(a, c_, c_, shortcut, (3, 3), 1.0)
        b = g.conv(x, c1, c_, 1)
        return g.conv(g.concat([a, b]), 2 * c_, c2, 1)

    def c3k2(x, c2, n, c3k_flag, e=0.5, shortcut=True):
        c = int(c2 * e)
        y = g.split(g.conv(x, x[1], 2 * c, 1), [c, c])
        for _ in range(n):
            y.append(c3k(y[-1], c, c, 2, shortcut) if c3k_flag else bottleneck(y[-1], c, c, shortcut))
        return g.conv(g.concat(y), (2 + n) * c, c2, 1)

    def sppf(x, c2, k=5):
        c_ = x[1] // 2
        y = [g.conv(x, x[1], c_, 1)]
        for _ in range(3):
            y.append(g.maxpool(y[-1], k, 1, [k // 2] * 4))
        return g.conv(g.concat(y), 4 * c_, c2, 1)

    def attention(x, dim, heads, attn_ratio=0.5):
        _, _, h, w = x
        head_dim = dim // heads
        key_dim = int(head_dim * attn_ratio)
        n = h * w
        qkv = g.conv(x, dim, dim + 2 * key_dim * heads, 1, act=None)
        r = g.node("Reshape", [qkv[0], g._ints([0, heads, 2 * key_dim + head_dim, n])])[0]
        q, k, v = g.node("Split", [r, g._ints([key_dim, key_dim, head_dim])], n_out=3, axis=2)
        qt = g.node("Transpose", [q], perm=[0, 1, 3, 2])[0]
        attn = g.node("Softmax", [g.node("MatMul", [qt, k])[0]], axis=-1)[0]
        at = g.node("Transpose", [attn], perm=[0, 1, 3, 2])[0]
        o = g.node("Reshape", [g.node("MatMul", [v, at])[0], g._ints([0, dim, h, w])])[0]
        v4 = (g.node("Reshape", [v, g._ints([0, dim, h, w])])[0], dim, h, w)
        pe = g.conv(v4, dim, dim, 3, g=dim, act=None)
        return g.conv(g.add((o, dim, h, w), pe), dim, dim, 1, act=None)

    def c2psa(x, c2, n):
        c = int(x[1] * 0.5)
        a, b = g.split(g.conv(x, x[1], 2 * c, 1), [c, c])
        for _ in range(n):
            b = g.add(b, attention(b, c, c // 64))
            b = g.add(b, g.conv(g.conv(b, c, 2 * c, 1), 2 * c, c, 1, act=None))
        return g.conv(g.concat([a, b]), 2 * c, c2, 1)

    x = (g.input[0], 3, size, size)
    x = g.conv(x, 3, ch(64), 3, 2)
    x = g.conv(x, x[1], ch(128), 3, 2)
    x = c3k2(x, ch(256), reps(2), c3k_forced, 0.25)
    x = g.conv(x, x[1], ch(256), 3, 2)
    p3 = x = c3k2(x, ch(512), reps(2), c3k_forced, 0.25)
    x = g.conv(x, x[1], ch(512), 3, 2)
    p4 = x = c3k2(x, ch(512), reps(2), True)
    x = g.conv(x, x[1], ch(1024), 3, 2)
    x = c3k2(x, ch(1024), reps(2), True)
    x = sppf(x, ch(1024))
    p5 = x = c2psa(x, ch(1024), reps(2))
    h13 = x = c3k2(g.concat([g.up2(x), p4]), ch(512), reps(2), c3k_forced)
    o3 = x = c3k2(g.concat([g.up2(x), p3]), ch(256), reps(2), c3k_forced)
    o4 = x = c3k2(g.concat([g.conv(x, x[1], ch(256), 3, 2), h13]), ch(512), reps(2), c3k_forced)
    o5 = c3k2(g.concat([g.conv(x, x[1], ch(512), 3, 2), p5]), ch(1024), reps(2), True)
    # Detect: box branch (DFL, reg_max 16) and class branch (DWConv) per level.
    c2 = max(16, o3[1] // 4, 64)
    c3 = max(o3[1], min(num_classes, 100))
    outs = []
    for f in (o3, o4, o5):
        box = g.conv(g.conv(g.conv(f, f[1], c2, 3), c2, c2, 3), c2, 64, 1, act=None)
        cls = g.conv(g.conv(f, f[1], f[1], 3, g=f[1]), f[1], c3, 1)
        cls = g.conv(g.conv(cls, c3, c3, 3, g=c3), c3, c3, 1)
        cls = g.conv(cls, c3, num_classes, 1, act=None)
        outs.append(g.concat([box, cls]))
    flat = [g.node("Reshape", [o[0], g._ints([0, 64 + num_classes, -1])])[0] for o in outs]
    cat = g.node("Concat", flat, axis=2)[0]
    box, cls = g.node("Split", [cat, g._ints([64, num_classes])], n_out=2, axis=1)
    anchors = sum(o[2] * o[3] for o in outs)
    dist = g.node("Softmax", [g.node("Transpose", [g.node("Reshape", [box, g._ints([0, 4, 16, anchors])])[0]],
                                     perm=[0, 2, 1, 3])[0]], axis=1)[0]
    dfl = g.node("Conv", [dist, g._weight([1, 16, 1, 1])], kernel_shape=[1, 1])[0]
    scores = g.node("Sigmoid", [cls])[0]
    return g.model([(dfl, 1, 4, anchors), (scores, num_classes, 1, anchors)])


def reference_network(name: str):
    """'yolov3-tiny-416', 'yolov3-608', 'yolo11n-640', ... as an ONNX ModelProto."""
    base, size = name.rsplit("-", 1)
    size = int(size)
    if base == "yolov3-tiny":
        return yolov3_tiny(size)
    if base == "yolov3":
        return yolov3(size)
    if base.startswith("yolo11") and len(base) == 7:
        return yolo11(base[-1], size)
    raise KeyError("unknown reference network {!r}".format(name))


# ------------------------------------------------------------------------ CLI

def format_estimate(est: Dict[str, object]) -> List[str]:
    lo, hi = est["estimate_ms_range"]
    lines = [
        "{} -- {} ({}), {} instances, {}: {:.1f} ms/frame = {:.1f} FPS (range {:.1f}-{:.1f} ms)".format(
            est["label"], est["device_name"], est["device"], est["instances"], est["precision"],
            est["estimate_ms"], est["estimate_fps"], lo, hi),
        "  raw roofline {:.3f} ms ({}) x calibration k = {:.2f} (range {:.2f}-{:.2f})".format(
            est["raw_roofline_ms"], ", ".join("{} {:.3f}".format(k, v) for k, v in est["raw_parts_ms"].items()),
            est["calibration_k"], est["calibration_k_range"][0], est["calibration_k_range"][1]),
        "  k from {}".format(est["calibration_references_used"]),
    ]
    if est["calibration_extrapolated"]:
        lines.append("  EXTRAPOLATED: the raw roofline {:.3f} ms lies outside the references' {:.3f}-{:.3f} ms; "
                     "the nearest reference's k is used (less reliable, above all when the reference time "
                     "includes fixed overheads)".format(est["raw_roofline_ms"], *est["calibration_span_ms"]))
    if not est["calibration_same_precision"]:
        lines.append("  no reference at {}: k from the other precisions".format(est["precision"]))
    lines.append("  not included: {}".format(est["excludes"]))
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="NAME.onnx (NAME.tail.onnx beside it)")
    parser.add_argument("--device", default="xavier", choices=sorted(k for k in devices_mod.DEVICES
                                                                    if k != "gtx1080"))
    parser.add_argument("--precision", choices=["fp32", "fp16", "int8"], default=None)
    parser.add_argument("--instances", type=int, default=8)
    parser.add_argument("--layers", type=int, default=15, help="print the N slowest layer groups")
    parser.add_argument("--references", action="store_true", help="print the calibration table")
    parser.add_argument("--json", help="write the estimate here")
    args = parser.parse_args(argv)

    if args.references or not args.model:
        print("calibration references for {} ({}):".format(args.device, devices_mod.DEVICES[args.device]["name"]))
        for r in calibration(args.device):
            print("  {:<16s} {:<5s} batch {:<2d} {:7.2f} ms measured  {:7.3f} ms raw roofline  "
                  "{:6.2f} GFLOPs  k = {:5.2f}  [{}]".format(r["network"], r["precision"], r["batch"],
                                                            r["latency_ms"], r["raw_roofline_ms"], r["gflops"],
                                                            r["k"], r["includes"]))
        if not args.model:
            return 0
    from fassst_rt.metadata import ModelMetadata
    from fassst_rt.model_files import METADATA_KEY, tail_onnx_path
    import onnx

    meta = None
    for prop in onnx.load(args.model, load_external_data=False).metadata_props:
        if prop.key == METADATA_KEY:
            meta = ModelMetadata.from_json(prop.value, args.model)
    frame = count_graph(args.model, dims={"B": 1})
    tail = count_graph(tail_onnx_path(args.model), dims={"K": max(args.instances, 1)})
    est = estimate(frame, tail, args.instances, meta.mask_channels if meta else 128,
                   meta.roi_size if meta else 28, args.device, args.precision)
    for line in format_estimate(est):
        print(line)
    print("  slowest layer groups of the frame graph:")
    for row in sorted(est["layers"], key=lambda r: -r["ms"])[:args.layers]:
        print("    {:8.4f} ms  {:<7s} {:10.3f} MFLOP {:9.3f} MB  {}".format(
            row["ms"], row["bound"], row["flops"] / 1e6, row["bytes"] / 1e6, row["ops"][:60]))
    if args.json:
        atomic_write_text(args.json, json.dumps(est, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
