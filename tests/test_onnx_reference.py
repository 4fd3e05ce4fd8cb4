"""The kernels against ONNX Runtime's standard ops (RoiAlign, Resize), a second
independent implementation of the same numerics (DESIGN: ONNX RoiAlign opset
16 half_pixel, Resize linear half_pixel)."""

import numpy as np
import pytest

from fassst_rt import ops

from conftest import fuse_tolerance, make_pyramid, make_rois

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
pytest.importorskip("onnx", reason="onnx is not installed")

from fassst_rt.onnx_rff import rff_model  # noqa: E402


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("out_size", [8, 28])
def test_roi_fuse_equals_onnxruntime_graph(seed, out_size):
    rng = np.random.default_rng(seed)
    channels = 5
    maps = make_pyramid(rng, 2, channels, 15, 11)
    rois = make_rois(rng, 12, 2, 15 * 8, 11 * 8)
    session = ort.InferenceSession(rff_model(channels, out_size), providers=["CPUExecutionProvider"])
    want = session.run(None, {"p1": maps[0], "p2": maps[1], "p3": maps[2],
                              "boxes": np.ascontiguousarray(rois[:, 1:]),
                              "batch_indices": rois[:, 0].astype(np.int64)})[0]
    got = ops.roi_fuse(*maps, rois, out_size)
    assert np.abs(got - want).max() <= fuse_tolerance(want)
