"""The stride-grid form (fassst_rt/train/stride_grid.py): periodic pooling
against adaptive pooling block by block, the trained tile reproduced exactly,
boxes decoded per cell, weights recovered from an export, dynamic-size ONNX."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from fassst_rt.train.config import ModelConfig  # noqa: E402
from fassst_rt.train.export import export_graphs  # noqa: E402
from fassst_rt.train.network import FASSST  # noqa: E402
from fassst_rt.train.stride_grid import StrideGridFrame, StrideGridPool, grid_period, load_onnx_weights  # noqa: E402

pytestmark = pytest.mark.train


def small(**kw):
    base = dict(input_size=192, width_mult=0.35, M=8, tail_channels=8, S1=8, iam_channels=16, S=8,
                num_classes=2)
    base.update(kw)
    return ModelConfig(**base)


def trained_like(cfg, seed=0):
    """A model in eval mode whose BatchNorms are not the identity (as after training)."""
    torch.manual_seed(seed)
    m = FASSST(cfg)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
        m.iam.predict.weight.normal_(std=0.05)
    return m.eval()


def test_grid_period():
    assert grid_period(192, 8) == (4, 3, 96)     # 6 stride-32 columns -> 8 cells of 24 px
    assert grid_period(320, 6) == (3, 5, 160)
    assert grid_period(416, 6) == (6, 13, 416)   # no shorter period: the whole input
    assert grid_period(128, 4) == (1, 1, 32)
    with pytest.raises(ValueError, match="multiple of 32"):
        grid_period(200, 8)


def test_pool_is_adaptive_pooling_block_by_block():
    x = torch.randn(2, 5, 9, 12)
    y = StrideGridPool(4, 3)(x)
    assert y.shape == (2, 5, 12, 16)
    for i in range(3):
        for j in range(4):
            block = F.adaptive_avg_pool2d(x[..., 3 * i:3 * i + 3, 3 * j:3 * j + 3], 4)
            assert torch.allclose(y[..., 4 * i:4 * i + 4, 4 * j:4 * j + 4], block, atol=1e-6)


@pytest.mark.parametrize("cfg", [small(), small(input_size=128, S=4), small(input_size=320, S=6)])
def test_one_tile_is_the_trained_model(cfg):
    m = trained_like(cfg)
    x = torch.randn(2, 3, cfg.input_size, cfg.input_size)
    with torch.no_grad():
        want = m.forward_frame(x)
        got = StrideGridFrame(m)(x)
    for a, b in zip(want, got):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_boxes_follow_the_cells():
    m = trained_like(small())
    with torch.no_grad():
        m.iam.predict.weight.zero_()
        m.iam.predict.bias[:4].zero_()   # (dx, dy, lw, lh) = 0: every cell predicts itself
        boxes, scores, p1, p2, p3 = StrideGridFrame(m)(torch.randn(1, 3, 96 * 2, 96 * 3))
    rows, cols, cell = 8, 12, 24.0
    assert boxes.shape == (1, rows * cols, 4) and scores.shape == (1, rows * cols, 2)
    r, c = np.divmod(np.arange(rows * cols), cols)
    want = np.stack([c * cell, r * cell, (c + 1) * cell, (r + 1) * cell], axis=1)
    assert np.allclose(boxes[0].numpy(), want, atol=1e-4)
    assert p1.shape[-2:] == (24, 36) and p3.shape[-2:] == (6, 9)


def test_weights_recovered_from_an_export(tmp_path):
    cfg = small()
    original = trained_like(cfg, seed=0)
    path = str(tmp_path / "m.onnx")
    export_graphs(original, path)
    copy = FASSST(cfg)                      # other initial weights
    load_onnx_weights(copy, path, str(tmp_path / "m.tail.onnx"))
    copy.eval()
    x = torch.randn(1, 3, 192, 192)
    rois = torch.randn(3, cfg.M, cfg.S1, cfg.S1)
    with torch.no_grad():
        for a, b in zip(original.forward_frame(x), copy.forward_frame(x)):
            assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
        assert torch.allclose(original.forward_tail(rois), copy.forward_tail(rois), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="convolution"):
        load_onnx_weights(FASSST(small(M=16)), path, str(tmp_path / "m.tail.onnx"))


def test_dynamic_size_onnx_export(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    graph = StrideGridFrame(trained_like(small())).eval()
    path = str(tmp_path / "sg.onnx")
    names = ["boxes", "scores", "p1", "p2", "p3"]
    dyn = {"images": {0: "B", 2: "H", 3: "W"}, "boxes": {1: "n"}, "scores": {1: "n"}}
    dyn.update({n: {2: "h" + n, 3: "w" + n} for n in names[2:]})
    with torch.no_grad():
        torch.onnx.export(graph, (torch.zeros(1, 3, 96, 192),), path, input_names=["images"],
                          output_names=names, dynamic_axes=dyn, opset_version=17, dynamo=False)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 288, 96), (1, 3, 192, 480)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            want = graph(x)
        got = sess.run(None, {"images": x.numpy()})
        for a, b in zip(want, got):
            assert a.shape == b.shape
            assert np.allclose(a.numpy(), b, atol=1e-4, rtol=1e-4)
