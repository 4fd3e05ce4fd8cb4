"""The ROI feature fusion as a graph of standard ONNX ops (RoiAlign x3,
Resize x2, Add x2, Relu), for runtimes that cannot call fassst_rt's kernels:
the portable export, the kernel benchmark and the cross-check against ONNX
Runtime all build it here. Needs the ``onnx`` package."""

from typing import Sequence

ROI_ALIGN_OPSET = 16  # RoiAlign's coordinate_transformation_mode appeared in opset 16


def rff_nodes(maps: Sequence[str], boxes: str, batch_indices: str, output: str, out_size: int,
              strides: Sequence[float], prefix: str = "rff_"):
    """Nodes computing ``output = relu(R1 + up2(R2 + up2(R3)))`` from three
    NCHW maps, (K, 4) boxes x1, y1, x2, y2 and (K,) int64 batch indices, plus
    the initializers they need."""
    from onnx import TensorProto, helper

    crops = []
    nodes = []
    for level, name in enumerate(maps):
        size = out_size >> level
        crop = "{}r{}".format(prefix, level + 1)
        nodes.append(helper.make_node(
            "RoiAlign", [name, boxes, batch_indices], [crop], name=crop,
            mode="avg", output_height=size, output_width=size, sampling_ratio=1,
            spatial_scale=1.0 / float(strides[level]), coordinate_transformation_mode="half_pixel"))
        crops.append(crop)
    scales = prefix + "up2_scales"
    up = dict(mode="linear", coordinate_transformation_mode="half_pixel")
    nodes += [
        helper.make_node("Resize", [crops[2], "", scales], [prefix + "u3"], name=prefix + "up3", **up),
        helper.make_node("Add", [crops[1], prefix + "u3"], [prefix + "q"], name=prefix + "add2"),
        helper.make_node("Resize", [prefix + "q", "", scales], [prefix + "uq"], name=prefix + "upq", **up),
        helper.make_node("Add", [crops[0], prefix + "uq"], [prefix + "sum"], name=prefix + "add1"),
        helper.make_node("Relu", [prefix + "sum"], [output], name=prefix + "relu"),
    ]
    initializers = [helper.make_tensor(scales, TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0])]
    return nodes, initializers


def rff_model(channels: int, out_size: int = 28, strides: Sequence[float] = (8, 16, 32),
              opset: int = ROI_ALIGN_OPSET) -> bytes:
    """A standalone model: inputs p1, p2, p3 (B, channels, H, W), boxes (K, 4),
    batch_indices (K,) int64; output R (K, channels, S, S)."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B", channels, "H%d" % i, "W%d" % i])
              for i, n in enumerate(["p1", "p2", "p3"])]
    inputs += [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["K", 4]),
               helper.make_tensor_value_info("batch_indices", TensorProto.INT64, ["K"])]
    nodes, initializers = rff_nodes(["p1", "p2", "p3"], "boxes", "batch_indices", "R", out_size, strides)
    output = helper.make_tensor_value_info("R", TensorProto.FLOAT, ["K", channels, out_size, out_size])
    graph = helper.make_graph(nodes, "rff_unfused", inputs, [output], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model.SerializeToString()
