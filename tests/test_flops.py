"""fassst_rt.flops against hand counts on small hand-built graphs (a conv, a
depthwise conv, a deconv, a gemm, ...), and the roofline's reference networks
against their published FLOP and parameter counts."""

import os
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the FLOP counter needs onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from fassst_rt.flops import count_graph  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = os.path.join(os.path.dirname(HERE), "benchmarks")
TINY = os.path.join(HERE, "data", "tiny", "tiny.onnx")


def weight(name, shape, data=True):
    if data:
        return numpy_helper.from_array(np.zeros(shape, np.float32), name)
    t = TensorProto()  # shape only, no values: the counter must not need them
    t.name, t.data_type = name, TensorProto.FLOAT
    t.dims.extend(shape)
    return t


def model(nodes, inputs, outputs, initializers, opset=17):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                              initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def only(cost, op):
    (node,) = [n for n in cost.nodes if n.op_type == op]
    return node


def test_conv_by_hand():
    # x (1, 3, 8, 8), W (4, 3, 3, 3), bias 4, pad 1 -> y (1, 4, 8, 8)
    m = model([helper.make_node("Conv", ["x", "W", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
              [("x", [1, 3, 8, 8])], ["y"], [weight("W", [4, 3, 3, 3]), weight("b", [4])])
    node = only(count_graph(m), "Conv")
    macs = 4 * 8 * 8 * (3 * 3 * 3)  # output elements x (Cin/group x kernel)
    assert node.macs == macs == 6912 and node.flops == 2 * macs
    assert node.params == 4 * 3 * 3 * 3 + 4
    assert node.bytes_read == 4 * (3 * 8 * 8 + 108 + 4) and node.bytes_written == 4 * (4 * 8 * 8)
    assert node.output_shapes == [[1, 4, 8, 8]]


def test_strided_depthwise_conv_by_hand():
    # depthwise: group = channels = 8, stride 2: (1, 8, 10, 10) -> (1, 8, 5, 5)
    m = model([helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                strides=[2, 2], group=8)],
              [("x", [1, 8, 10, 10])], ["y"], [weight("W", [8, 1, 3, 3])])
    cost = count_graph(m)
    node = only(cost, "Conv")
    assert node.output_shapes == [[1, 8, 5, 5]]
    assert node.macs == 8 * 5 * 5 * 1 * 9 == 1800 and node.flops == 3600
    assert cost.params == 72


def test_grouped_conv_by_hand():
    # 2 groups: each output channel sees Cin/2 = 3 input channels
    m = model([helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[1, 1], group=2)],
              [("x", [2, 6, 4, 4])], ["y"], [weight("W", [10, 3, 1, 1])])
    assert count_graph(m).macs == 2 * 10 * 16 * 3


@pytest.mark.parametrize("group", [1, 2])
def test_deconv_by_hand(group):
    # ConvTranspose k = s = 2: (1, 4, 5, 5) -> (1, 2, 10, 10); every output element receives
    # Cin/group products (the kernel windows do not overlap)
    m = model([helper.make_node("ConvTranspose", ["x", "W", "b"], ["y"], kernel_shape=[2, 2], strides=[2, 2],
                                group=group)],
              [("x", [1, 4, 5, 5])], ["y"], [weight("W", [4, 2 // group, 2, 2]), weight("b", [2])])
    node = only(count_graph(m), "ConvTranspose")
    assert node.output_shapes == [[1, 2, 10, 10]]
    assert node.macs == 1 * 4 * 5 * 5 * (2 // group) * 4 == 2 * 10 * 10 * (4 // group)
    assert node.params == 4 * (2 // group) * 4 + 2


def test_overlapping_deconv_by_hand():
    # k 3, stride 2, pad 1, output_padding 1: (1, 3, 4, 4) -> (1, 5, 8, 8): MACs = Cin*H*W x Cout*k*k
    m = model([helper.make_node("ConvTranspose", ["x", "W"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                                pads=[1, 1, 1, 1], output_padding=[1, 1])],
              [("x", [1, 3, 4, 4])], ["y"], [weight("W", [3, 5, 3, 3])])
    node = only(count_graph(m), "ConvTranspose")
    assert node.output_shapes == [[1, 5, 8, 8]]
    assert node.macs == 3 * 16 * 5 * 9


def test_gemm_and_matmul_by_hand():
    m = model([helper.make_node("Gemm", ["a", "B", "c"], ["y"], transB=1),
               helper.make_node("MatMul", ["p", "Q"], ["z"])],
              [("a", [3, 5]), ("p", [2, 3, 5])], ["y", "z"],
              [weight("B", [4, 5]), weight("c", [4]), weight("Q", [5, 7])])
    cost = count_graph(m)
    assert only(cost, "Gemm").macs == 3 * 4 * 5
    assert only(cost, "Gemm").params == 24
    assert only(cost, "MatMul").macs == 2 * 3 * 7 * 5
    assert cost.flops == 2 * (60 + 210)


def test_gemm_transposed_a():
    m = model([helper.make_node("Gemm", ["a", "B"], ["y"], transA=1)], [("a", [5, 3])], ["y"],
              [weight("B", [5, 4])])
    assert count_graph(m).macs == 3 * 4 * 5


def test_cost_model_of_other_ops():
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["c"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),                                   # 1 per element
        helper.make_node("Sigmoid", ["r"], ["s"]),                                # 4 per element
        helper.make_node("MaxPool", ["s"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),  # 4 taps per output
        helper.make_node("Resize", ["p", "", "scales"], ["u"], mode="linear"),   # bilinear: 7 per output
        helper.make_node("GlobalAveragePool", ["u"], ["g"]),                      # 1 per input element
        helper.make_node("Reshape", ["g", "shape"], ["f"]),                       # view: nothing
    ]
    inits = [weight("W", [2, 2, 1, 1]), numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.array([1, -1], np.int64), "shape")]
    cost = count_graph(model(nodes, [("x", [1, 2, 8, 8])], ["f"], inits))
    n = 2 * 8 * 8
    assert only(cost, "Relu").flops == n
    assert only(cost, "Sigmoid").flops == 4 * n
    assert only(cost, "MaxPool").flops == 4 * (n // 4)
    assert only(cost, "Resize").flops == 7 * n and only(cost, "Resize").output_shapes == [[1, 2, 8, 8]]
    assert only(cost, "GlobalAveragePool").flops == n
    reshape = only(cost, "Reshape")
    assert reshape.flops == 0 and reshape.bytes_read == 0 and reshape.bytes_written == 0
    # the Resize scales are a stored float constant, but a setting, not a parameter
    assert cost.params == 4


def test_symbolic_dims_and_static_shape_nodes():
    # Conv on (B, 3, 8, 8) with B = 2, followed by a Shape -> Gather -> Reshape chain that a
    # runtime folds away once the input size is fixed
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Shape", ["y"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Concat", ["batch", "minus1"], ["newshape"], axis=0),
        helper.make_node("Reshape", ["y", "newshape"], ["z"]),
    ]
    inits = [weight("W", [4, 3, 3, 3]), numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 3, 8, 8])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    one, two = count_graph(m, dims={"B": 1}), count_graph(m, dims={"B": 2})
    assert two.macs == 2 * one.macs == 2 * 4 * 64 * 27
    assert two.input_shapes == {"x": [2, 3, 8, 8]}
    for cost in (one, two):
        static = {n.op_type for n in cost.nodes if n.static}
        assert static == {"Shape", "Gather", "Concat"}
        assert all(n.flops == 0 and n.bytes_read == 0 for n in cost.nodes if n.static)
        assert not cost.warnings


def test_shape_only_weights_count_like_real_ones():
    def conv(data):
        return model([helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3])], [("x", [1, 3, 9, 9])],
                     ["y"], [weight("W", [5, 3, 3, 3], data=data)])
    a, b = count_graph(conv(True)), count_graph(conv(False))
    assert (a.flops, a.params, a.bytes_read) == (b.flops, b.params, b.bytes_read) == (2 * 5 * 49 * 27, 135, a.bytes_read)


def test_tiny_model_counts():
    frame = count_graph(TINY, dims={"B": 1})
    tail1, tail4 = count_graph(TINY[:-5] + ".tail.onnx", dims={"K": 1}), \
        count_graph(TINY[:-5] + ".tail.onnx", dims={"K": 4})
    assert not frame.warnings and not tail1.warnings
    assert frame.flops > 0 and frame.params > 0
    assert tail4.flops == 4 * tail1.flops and tail4.params == tail1.params
    # tail (M = 16, S1 = 16): four 3x3 convs 16 -> 16 at 16x16, a 2x2 stride-2 deconv 16 -> 16
    # (16x16 -> 32x32) and the 1x1 predictor 16 -> 1 at 32x32
    assert tail1.macs == 4 * (16 * 16 * 16) * 16 * 9 + (16 * 16 * 16) * 16 * 4 + (32 * 32) * 16


@pytest.fixture(scope="module")
def roofline():
    sys.path.insert(0, BENCHMARKS)
    try:
        import roofline
        yield roofline
    finally:
        sys.path.remove(BENCHMARKS)


def test_reference_networks_match_their_published_counts(roofline):
    # Darknet prints 2 x MACs of the convolutions: yolov3 65.864 BFLOPs at 416 and 140.692 at
    # 608, yolov3-tiny 5.56 at 416; Ultralytics: YOLO11n (fused) 2,616,248 parameters, 6.5 GFLOPs.
    def gmacs2(name):
        return 2 * count_graph(roofline.reference_network(name), dims={"B": 1}).macs / 1e9
    assert gmacs2("yolov3-416") == pytest.approx(65.864, abs=1e-3)
    assert gmacs2("yolov3-608") == pytest.approx(140.692, abs=1e-3)
    assert gmacs2("yolov3-tiny-416") == pytest.approx(5.56, rel=0.01)
    y11n = count_graph(roofline.reference_network("yolo11n-640"), dims={"B": 1})
    assert y11n.params == 2616248
    assert 2 * y11n.macs / 1e9 == pytest.approx(6.5, rel=0.02)
    assert 2 * count_graph(roofline.reference_network("yolo11x-640")).macs / 1e9 == pytest.approx(194.9, rel=0.01)


def test_roofline_fuses_activations_into_convs(roofline):
    # conv -> SiLU (Sigmoid, Mul): one group; the conv output never touches memory
    m = model([helper.make_node("Conv", ["x", "W"], ["c"], kernel_shape=[1, 1]),
               helper.make_node("Sigmoid", ["c"], ["s"]), helper.make_node("Mul", ["c", "s"], ["y"])],
              [("x", [1, 8, 16, 16])], ["y"], [weight("W", [8, 8, 1, 1])])
    cost = count_graph(m)
    groups = roofline.fused_groups(cost)
    assert len(groups) == 1 and groups[0]["ops"] == "Conv+Sigmoid+Mul"
    assert sorted(groups[0]["reads"]) == ["W", "x"] and groups[0]["writes"] == ["y"]
    dev = {"peak_ops": {"fp32": 1e12}, "bandwidth": 1e9}
    r = roofline.roofline(cost, dev, "fp32")
    nbytes = 4 * (8 * 256 + 64 + 8 * 256)
    assert r["bytes"] == nbytes and r["ms"] == pytest.approx(max(r["flops"] / 1e12, nbytes / 1e9) * 1e3)


@pytest.mark.parametrize("size", [416, 768])
def test_committed_paper_graphs_count_by_hand(size):
    """benchmarks/graphs/paper_*.shape.onnx (weights without values, for the device ESTIMATE
    without PyTorch) count cleanly, and their tail (M = 128, S1 = 28) matches a hand count:
    four 3x3 convs 128 -> 128 at 28x28, a 2x2 stride-2 deconv 128 -> 128, a 1x1 predictor
    128 -> 1 at 56x56; FLOPs = 2 x MACs for those layers."""
    frame_path = os.path.join(BENCHMARKS, "graphs", "paper_{}.shape.onnx".format(size))
    frame = count_graph(frame_path, dims={"B": 1})
    tail = count_graph(frame_path[:-5] + ".tail.onnx", dims={"K": 1})
    assert not frame.warnings and not tail.warnings
    assert 4.5e6 < frame.params < 5.0e6  # MobileNetV2 1.0 + head + IAM + pyramid layers
    macs = 4 * (128 * 28 * 28) * 128 * 9 + (128 * 28 * 28) * 128 * 4 + (56 * 56) * 128
    assert tail.macs == macs
    compute = [n for n in tail.nodes if n.op_type in ("Conv", "ConvTranspose")]
    assert sum(n.flops for n in compute) == 2 * macs


@pytest.mark.parametrize("name", ["yolov3-tiny-416", "yolo11n-640"])
def test_reference_networks_scale_with_batch(roofline, name):
    # a calibration reference measured at batch 8 is counted at batch 8: every node's shape
    # must follow the batch (an upsample with a fixed batch-1 output size would not)
    one = count_graph(roofline.reference_network(name), dims={"B": 1})
    eight = count_graph(roofline.reference_network(name), dims={"B": 8})
    assert not one.warnings and not eight.warnings
    assert eight.macs == 8 * one.macs and eight.params == one.params
