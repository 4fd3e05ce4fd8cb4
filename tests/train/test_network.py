"""The reference network: structure, output contract, box decoding, ONNX export,
ImageNet key mapping, configs."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from fassst_rt.train import config as cfgmod  # noqa: E402
from fassst_rt.train.config import ConfigError, ModelConfig, TrainConfig  # noqa: E402
from fassst_rt.train.network import (FASSST, GridPool, count_parameters, decode_boxes,  # noqa: E402
                                     encode_boxes, load_imagenet_backbone)

pytestmark = pytest.mark.train


def tiny(**kw):
    base = dict(input_size=128, width_mult=0.35, M=8, tail_channels=8, S1=8, iam_channels=16,
                S=4, num_classes=3)
    base.update(kw)
    return ModelConfig(**base)


def model_of(cfg, seed=0):
    torch.manual_seed(seed)
    return FASSST(cfg).eval()


# ---------------------------------------------------------------- structure

def test_backbone_is_mobilenet_v2():
    m = FASSST(ModelConfig())
    # torchvision's mobilenet_v2 has 3,504,872 parameters; without features.18
    # (320*1280 conv + 2*1280 BN) and the classifier (1280*1000 + 1000):
    assert count_parameters(m.backbone) == 3_504_872 - (320 * 1280 + 2 * 1280) - 1_281_000
    assert m.backbone.stage_channels == [32, 16, 24, 32, 64, 96, 160, 320]
    assert m.backbone.stage_strides == [2, 2, 4, 8, 16, 16, 32, 32]
    assert len(m.backbone.features) == 18


def test_torchvision_key_layout_and_imagenet_loading():
    m = FASSST(ModelConfig())
    sd = m.state_dict()
    # a few keys and shapes of torchvision's mobilenet_v2 state dict, as published
    known = {"features.0.0.weight": (32, 3, 3, 3), "features.0.1.running_var": (32,),
             "features.1.conv.0.0.weight": (32, 1, 3, 3),
             "features.1.conv.1.weight": (16, 32, 1, 1),
             "features.2.conv.0.0.weight": (96, 16, 1, 1),
             "features.2.conv.1.0.weight": (96, 1, 3, 3),
             "features.2.conv.2.weight": (24, 96, 1, 1),
             "features.2.conv.3.num_batches_tracked": (),
             "features.17.conv.2.weight": (320, 960, 1, 1)}
    for k, shape in known.items():
        assert tuple(sd["backbone." + k].shape) == shape, k
    # an "ImageNet" state dict laid out as torchvision's: our backbone keys
    # without the prefix, plus features.18 and the classifier, which are ignored
    torch.manual_seed(1)
    imagenet = {k[len("backbone."):]: torch.randn_like(v.float()).to(v.dtype)
                for k, v in sd.items() if k.startswith("backbone.")}
    imagenet["features.18.0.weight"] = torch.randn(1280, 320, 1, 1)
    imagenet["classifier.1.weight"] = torch.randn(1000, 1280)
    loaded = load_imagenet_backbone(m, imagenet)
    assert len(loaded) == len([k for k in sd if k.startswith("backbone.")])
    assert torch.equal(m.state_dict()["backbone.features.5.conv.1.0.weight"],
                       imagenet["features.5.conv.1.0.weight"])
    with pytest.raises(ValueError, match="width_mult"):
        load_imagenet_backbone(FASSST(ModelConfig(width_mult=0.5)), imagenet)
    with pytest.raises(ValueError, match="missing"):
        load_imagenet_backbone(m, {"features.0.0.weight": imagenet["features.0.0.weight"]})


@pytest.mark.parametrize("depth,channels,stride", [(3, 24, 4), (4, 32, 8), (5, 64, 16),
                                                   (6, 96, 16), (8, 320, 32)])
def test_head_depth_sets_where_the_iam_branches(depth, channels, stride):
    m = FASSST(ModelConfig(head_depth=depth, num_classes=2, M=8, tail_channels=8,
                           iam_channels=16))
    first = m.iam.pre[0][0]
    assert first.in_channels == channels
    assert m.backbone.stage_strides[depth - 1] == stride
    # the IAM reaches stride 32 with stride-2 convs among its first four
    assert [blk[0].stride[0] for blk in m.iam.pre] == (
        [2] * int(math.log2(32 // stride)) + [1] * (4 - int(math.log2(32 // stride))))


def test_iam_has_9_convs_and_tail_5_convs_1_deconv():
    m = FASSST(tiny())
    convs = [mod for mod in m.iam.modules() if isinstance(mod, nn.Conv2d)]
    assert len(convs) == 9 and convs[-1].out_channels == 4 + 3
    tail_convs = [mod for mod in m.tail.modules() if type(mod) is nn.Conv2d]
    deconvs = [mod for mod in m.tail.modules() if isinstance(mod, nn.ConvTranspose2d)]
    assert len(tail_convs) == 5 and len(deconvs) == 1 and deconvs[0].stride == (2, 2)


def test_grid_pool_equals_adaptive_avg_pool():
    x = torch.randn(2, 3, 13, 11)
    for s in range(4, 10):
        assert torch.allclose(GridPool(s)(x), F.adaptive_avg_pool2d(x, s), atol=1e-6)


# ------------------------------------------------------------ output contract

@pytest.mark.parametrize("S", [4, 6, 9])
def test_frame_outputs(S):
    cfg = tiny(S=S, input_size=160)
    m = model_of(cfg)
    x = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        boxes, scores, p1, p2, p3 = m.forward_frame(x)
    n = S * S
    assert boxes.shape == (2, n, 4) and scores.shape == (2, n, 3)
    assert p1.shape == (2, 8, 20, 20) and p2.shape == (2, 8, 10, 10) and p3.shape == (2, 8, 5, 5)
    assert ((scores > 0) & (scores < 1)).all()
    # untrained: the focal prior, p ~ 0.01 everywhere
    assert abs(float(scores.mean()) - 0.01) < 0.01
    assert (boxes[..., 2] >= boxes[..., 0]).all() and (boxes[..., 3] >= boxes[..., 1]).all()
    # each untrained cell predicts a box near its own cell: centre within the cell
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    col = torch.arange(n) % S
    assert ((cx / (160 / S)).floor() - col).abs().max() <= 1


def test_boxes_are_decoded_from_the_raw_outputs():
    cfg = tiny(input_size=128)
    m = model_of(cfg)
    x = torch.randn(1, 3, 128, 192)  # non-square works too
    with torch.no_grad():
        raw = m.forward_train(x)
        boxes = m.forward_frame(x)[0]
    p = raw["box_params"][0].double()
    S, cw, ch = 4, 192 / 4, 128 / 4
    for c in range(S * S):
        row, col = divmod(c, S)
        cx, cy = (col + 0.5 + p[c, 0]) * cw, (row + 0.5 + p[c, 1]) * ch
        w, h = math.exp(p[c, 2]) * cw, math.exp(p[c, 3]) * ch
        want = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        assert np.allclose(boxes[0, c].double().numpy(), want, rtol=1e-5, atol=1e-3)


def test_decode_by_hand_and_encode_roundtrip():
    params = torch.zeros(1, 36, 4)
    params[0, 7] = torch.tensor([0.25, -0.5, math.log(2.0), 0.0])  # cell 7 = row 1, col 1
    b = decode_boxes(params, 6, 416, 416)[0]
    cell = 416 / 6
    assert torch.allclose(b[0], torch.tensor([0.0, 0.0, cell, cell]))
    cx, cy, w, h = 1.75 * cell, 1.0 * cell, 2 * cell, cell
    assert torch.allclose(b[7], torch.tensor([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
    # huge sizes clamp at 2 S cells = twice the input
    params[0, 0, 2] = 100.0
    assert float(decode_boxes(params, 6, 416, 416)[0, 0, 2] - decode_boxes(
        params, 6, 416, 416)[0, 0, 0]) == pytest.approx(832.0)
    boxes = torch.tensor([[10.0, 20.0, 50.0, 90.0], [300.0, 200.0, 416.0, 416.0]])
    cells = torch.tensor([7, 35])
    enc = encode_boxes(boxes, cells, 6, 416, 416)
    full = torch.zeros(1, 36, 4)
    full[0, cells] = enc
    assert torch.allclose(decode_boxes(full, 6, 416, 416)[0, cells], boxes, atol=1e-3)


def test_tail_and_masks():
    cfg = tiny()
    m = model_of(cfg)
    out = m.forward_tail(torch.randn(5, 8, 8, 8))
    assert out.shape == (5, 1, 16, 16)
    assert m.forward_tail(torch.zeros(0, 8, 8, 8)).shape == (0, 1, 16, 16)
    with torch.no_grad():
        raw = m.forward_train(torch.randn(2, 3, 128, 128))
    rois = torch.tensor([[0, 10.0, 10.0, 60.0, 50.0], [1, 0.0, 0.0, 128.0, 128.0]])
    assert m.forward_masks(raw["p1"], raw["p2"], raw["p3"], rois).shape == (2, 1, 16, 16)


def test_without_rff_p2_p3_get_no_gradient():
    for use_rff in (True, False):
        m = FASSST(tiny(use_rff=use_rff)).train()
        raw = m.forward_train(torch.randn(2, 3, 128, 128))
        rois = torch.tensor([[0, 10.0, 10.0, 60.0, 50.0], [1, 30.0, 0.0, 128.0, 100.0]])
        m.forward_masks(raw["p1"], raw["p2"], raw["p3"], rois).sum().backward()
        g2 = m.pyramid[1][1].weight.grad
        g1 = m.pyramid[0][1].weight.grad
        assert g1 is not None and g1.abs().sum() > 0
        assert (g2 is not None and g2.abs().sum() > 0) == use_rff


def test_width_mult_and_param_count_scale():
    small = count_parameters(FASSST(ModelConfig(width_mult=0.5)))
    big = count_parameters(FASSST(ModelConfig()))
    assert small < big


# --------------------------------------------------------------------- ONNX

def test_onnx_export_matches_pytorch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    cfg = tiny(input_size=96, S=6)
    m = model_of(cfg)
    # give BN non-trivial statistics
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
    from fassst_rt.train.export import export_graphs

    frame = tmp_path / "m.onnx"
    tail = export_graphs(m, str(frame))
    assert tail == str(tmp_path / "m.tail.onnx")
    assert not m.training  # left in the mode it came in
    g = onnx.load(str(frame))
    assert g.opset_import[0].version == 17
    ops = {n.op_type for n in g.graph.node}
    assert not ops & {"If", "Loop"}, ops
    assert [o.name for o in g.graph.output] == ["boxes", "scores", "p1", "p2", "p3"]
    x = np.random.default_rng(0).standard_normal((1, 3, 96, 96)).astype(np.float32)
    got = ort.InferenceSession(str(frame), providers=["CPUExecutionProvider"]).run(
        None, {"images": x})
    with torch.no_grad():
        want = m.forward_frame(torch.from_numpy(x))
    for a, b in zip(got, want):
        assert a.shape == tuple(b.shape)
        assert np.allclose(a, b.numpy(), rtol=1e-4, atol=1e-4)
    rois = np.random.default_rng(1).standard_normal((5, 8, 8, 8)).astype(np.float32)
    got = ort.InferenceSession(str(tail), providers=["CPUExecutionProvider"]).run(
        None, {"rois": rois})[0]
    with torch.no_grad():
        want = m.forward_tail(torch.from_numpy(rois)).numpy()
    assert got.shape == (5, 1, 16, 16) and np.allclose(got, want, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ configs

def test_model_config_defaults_are_the_papers():
    c = ModelConfig()
    assert (c.input_size, c.width_mult, c.head_depth, c.S, c.S1, c.use_rff) == (
        416, 1.0, 5, 6, 28, True)
    assert c.n == 36 and c.mask_size == 56 and c.strides == (8, 16, 32)
    t = TrainConfig()
    lw = t.loss_weights
    assert (lw.mask, lw.loc, lw.cls) == (5.75, 3.0, 1.25)
    assert (t.batch_size, t.epochs, t.lr) == (8, 100, 0.005)


@pytest.mark.parametrize("bad", [dict(S=3), dict(S=10), dict(S1=30), dict(S1=0),
                                 dict(input_size=400), dict(head_depth=2), dict(head_depth=9),
                                 dict(num_classes=0), dict(M=0), dict(width_mult=0),
                                 dict(num_classes=2, class_names=["a"]),
                                 dict(num_classes=2, class_names=["a", "a"]),
                                 dict(use_rff=1)])
def test_model_config_validation(bad):
    with pytest.raises(ConfigError):
        ModelConfig(**bad)


def test_config_dicts_and_files(tmp_path):
    c = ModelConfig(num_classes=2, class_names=["nucleus", "bacterium"], S=8)
    d = c.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert ModelConfig.from_dict(d) == c
    with pytest.raises(ConfigError, match="unknown"):
        ModelConfig.from_dict({**d, "bogus": 1})
    t = cfgmod.preset("cpu_small")
    assert TrainConfig.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "cpu_small", "model": {"S": 8}, "lr": 0.001}))
    loaded = cfgmod.load_train_config(path)
    assert loaded.model.S == 8 and loaded.lr == 0.001
    assert loaded.model.width_mult == t.model.width_mult  # the rest of the preset's model stays
    (tmp_path / "bad.json").write_text(json.dumps({"model": {"S": 12}}))
    with pytest.raises(ConfigError, match="bad.json"):
        cfgmod.load_train_config(tmp_path / "bad.json")
    try:
        import yaml  # noqa: F401
    except ImportError:
        (tmp_path / "c.yaml").write_text("lr: 0.1\n")
        with pytest.raises(ConfigError, match="PyYAML"):
            cfgmod.load_train_config(tmp_path / "c.yaml")
    else:
        (tmp_path / "c.yaml").write_text("preset: tiny\nlr: 0.1\nmodel:\n  S: 5\n")
        y = cfgmod.load_train_config(tmp_path / "c.yaml")
        assert y.lr == 0.1 and y.model.S == 5


def test_presets_are_valid():
    for name in cfgmod.PRESETS:
        t = cfgmod.preset(name)
        t.validate()
        assert count_parameters(FASSST(t.model)) > 0
    assert cfgmod.preset("paper") == TrainConfig()
