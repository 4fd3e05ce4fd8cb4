"""The FASSST network in PyTorch (docs/model.md).

Parts, in the paper's words:

- **backbone**: MobileNetV2 written from scratch, module for module as
  torchvision lays it out (``backbone.features.0`` .. ``backbone.features.17``;
  torchvision's final 1x1 conv ``features.18`` and classifier are not used), so
  ImageNet weights load by key (``load_imagenet_backbone``).
- **network head**: the first ``head_depth`` MobileNetV2 *stages* of the
  backbone. Stage 1 is the stem conv; stages 2..8 are the seven groups of
  inverted-residual blocks that share an output width (t, c, n, s = 1,16,1,1 /
  6,24,2,2 / 6,32,3,2 / 6,64,4,2 / 6,96,3,1 / 6,160,3,2 / 6,320,1,1). Depth 5
  (the paper's) therefore ends after the 64-channel blocks: E has stride 16
  and 64 * width_mult channels (features.0 .. features.10).
- **IAM**: 9 convolutions on E. Convs 1-4 are 3x3 (BN, ReLU); the first
  log2(32 / stride(E)) of them have stride 2, so the IAM works at stride 32.
  Then a grid pooling (adaptive average pooling written as two constant
  matrix products, exportable for any input size) maps the map to S x S;
  convs 5-8 are 3x3 on the grid (BN, ReLU); conv 9 is a 1x1 predictor of
  4 box parameters + C class logits per cell. Cell c = row * S + col.
- **pyramid mask layers**: from the backbone's stride-8, 16 and 32 stage
  outputs (stages 4, 6, 8), each a 3x3 conv (BN, ReLU) to M channels and a
  linear 1x1 conv (with bias), giving p1, p2, p3 (no final ReLU: RFF's ReLU
  acts after the sum).
- **tail**: 4 3x3 convs (ReLU), a 2x2 stride-2 deconvolution (ReLU) and a 1x1
  conv to one class-agnostic mask logit: 5 conv + 1 deconv, (K, M, S1, S1) ->
  (K, 1, 2 S1, 2 S1).

Box parametrisation (decoded inside the frame graph): cell (row, col) has
size (cw, ch) = (W/S, H/S) and predicts (dx, dy, lw, lh):
``cx = (col + 0.5 + dx) * cw``, ``cy = (row + 0.5 + dy) * ch``,
``w = cw * exp(clamp(lw, -6, log 2S))``, ``h`` likewise, and the box is
``(cx - w/2, cy - h/2, cx + w/2, cy + h/2)`` in input pixels.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn as nn

from .config import ModelConfig
from .rff import roi_feature_fusion

__all__ = ["FASSST", "MobileNetV2Backbone", "IAM", "Tail", "FrameGraph", "TailGraph",
           "build_model", "load_imagenet_backbone", "count_parameters",
           "encode_boxes", "decode_boxes", "LOG_SIZE_MIN"]

#: (expand ratio t, channels c, blocks n, stride s) of MobileNetV2's stages 2..8
MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
#: stages whose outputs feed p1, p2, p3 (1-based; stem = stage 1)
PYRAMID_STAGES = (4, 6, 8)
LOG_SIZE_MIN = -6.0


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """MobileNet's channel rounding (as torchvision's ``_make_divisible``)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNAct(nn.Sequential):
    """conv, BatchNorm, activation: keys ``0.weight``, ``1.*`` as torchvision's
    Conv2dNormActivation."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.ReLU6):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)
        self.out_channels = cout


class InvertedResidual(nn.Module):
    """MobileNetV2's block; ``conv`` holds the layers as torchvision names them."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(cin * expand_ratio))
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNAct(cin, hidden, 1))
        layers += [ConvBNAct(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2Backbone(nn.Module):
    """MobileNetV2 ``features.0`` .. ``features.17`` with stage bookkeeping."""

    def __init__(self, width_mult: float = 1.0):
        super().__init__()
        cin = make_divisible(32 * width_mult)
        layers: list[nn.Module] = [ConvBNAct(3, cin, 3, 2)]
        self.stage_ends = [0]          # index in features of each stage's last module
        self.stage_channels = [cin]
        self.stage_strides = [2]
        stride = 2
        for t, c, n, s in MOBILENET_V2_SETTINGS:
            cout = make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
            stride *= s
            self.stage_ends.append(len(layers) - 1)
            self.stage_channels.append(cout)
            self.stage_strides.append(stride)
        self.features = nn.Sequential(*layers)

    def forward_taps(self, x: torch.Tensor, stages: list[int]) -> dict[int, torch.Tensor]:
        """Outputs of the given stages (1-based), running only as far as needed."""
        wanted = {self.stage_ends[s - 1]: s for s in stages}
        last = max(wanted)
        out: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
            if i == last:
                break
        return out


class GridPool(nn.Module):
    """Adaptive average pooling to S x S as Ph @ x @ Pw^T with constant
    matrices built from the (static) input size: identical to
    ``F.adaptive_avg_pool2d`` and exportable to ONNX when S does not divide
    the map size."""

    def __init__(self, S: int):
        super().__init__()
        self.S = S

    @staticmethod
    def matrix(S: int, size: int, like: torch.Tensor) -> torch.Tensor:
        m = torch.zeros(S, size, dtype=like.dtype, device=like.device)
        for i in range(S):
            a = (i * size) // S
            b = -((-(i + 1) * size) // S)
            m[i, a:b] = 1.0 / (b - a)
        return m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if h == self.S and w == self.S:
            return x
        ph = self.matrix(self.S, h, x)
        pw = self.matrix(self.S, w, x)
        return torch.matmul(torch.matmul(ph, x), pw.t())


class IAM(nn.Module):
    """Instance attention module: 9 convolutions, E -> (B, 4 + C, S, S)."""

    def __init__(self, cin: int, in_stride: int, channels: int, S: int, num_classes: int):
        super().__init__()
        downs = int(round(math.log2(32 / in_stride)))
        if downs < 0 or downs > 4 or 2 ** downs * in_stride != 32:
            raise ValueError(f"IAM input stride must be 2..32, got {in_stride}")
        pre = []
        for i in range(4):
            pre.append(ConvBNAct(cin if i == 0 else channels, channels, 3,
                                 2 if i < downs else 1, act=nn.ReLU))
        self.pre = nn.Sequential(*pre)
        self.pool = GridPool(S)
        self.grid = nn.Sequential(*[ConvBNAct(channels, channels, 3, act=nn.ReLU)
                                    for _ in range(4)])
        self.predict = nn.Conv2d(channels, 4 + num_classes, 1)
        nn.init.normal_(self.predict.weight, std=0.01)
        nn.init.zeros_(self.predict.bias)
        prior = 0.01  # focal-loss prior: every class starts at p = 0.01
        nn.init.constant_(self.predict.bias[4:], -math.log((1 - prior) / prior))

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.predict(self.grid(self.pool(self.pre(e))))


class PyramidMaskLayer(nn.Sequential):
    def __init__(self, cin: int, M: int):
        super().__init__(ConvBNAct(cin, M, 3, act=nn.ReLU), nn.Conv2d(M, M, 1))


class Tail(nn.Module):
    """5 conv + 1 deconv: (K, M, S1, S1) -> (K, 1, 2 S1, 2 S1) mask logits."""

    def __init__(self, M: int, channels: int):
        super().__init__()
        convs: list[nn.Module] = []
        for i in range(4):
            convs += [nn.Conv2d(M if i == 0 else channels, channels, 3, padding=1),
                      nn.ReLU(inplace=True)]
        self.convs = nn.Sequential(*convs)
        self.deconv = nn.ConvTranspose2d(channels, channels, 2, stride=2)
        self.predict = nn.Conv2d(channels, 1, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.predict.weight, std=0.001)

    def forward(self, rois: torch.Tensor) -> torch.Tensor:
        return self.predict(torch.relu(self.deconv(self.convs(rois))))


def encode_boxes(boxes: torch.Tensor, cells: torch.Tensor, S: int, height: int,
                 width: int) -> torch.Tensor:
    """(dx, dy, lw, lh) that decode to ``boxes`` (N, 4) in cells (N,) (row*S+col).
    Sizes below 1 px are encoded as 1 px."""
    cw, ch = width / S, height / S
    row = torch.div(cells, S, rounding_mode="floor").to(boxes.dtype)
    col = (cells % S).to(boxes.dtype)
    w = (boxes[:, 2] - boxes[:, 0]).clamp(min=1.0)
    h = (boxes[:, 3] - boxes[:, 1]).clamp(min=1.0)
    cx = (boxes[:, 0] + boxes[:, 2]) * 0.5
    cy = (boxes[:, 1] + boxes[:, 3]) * 0.5
    return torch.stack([cx / cw - col - 0.5, cy / ch - row - 0.5,
                        torch.log(w / cw), torch.log(h / ch)], dim=-1)


def decode_boxes(params: torch.Tensor, S: int, height: int, width: int) -> torch.Tensor:
    """(B, S*S, 4) box parameters -> (B, S*S, 4) x1, y1, x2, y2 in input pixels."""
    cw, ch = width / S, height / S
    idx = torch.arange(S, dtype=params.dtype, device=params.device) + 0.5
    col = idx.repeat(S)                      # cell c = row * S + col
    row = idx.repeat_interleave(S)
    log_max = math.log(2 * S)
    cx = (col + params[..., 0]) * cw
    cy = (row + params[..., 1]) * ch
    w = torch.exp(params[..., 2].clamp(LOG_SIZE_MIN, log_max)) * cw
    h = torch.exp(params[..., 3].clamp(LOG_SIZE_MIN, log_max)) * ch
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


class FASSST(nn.Module):
    """The whole network; see the module docstring and docs/model.md."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.backbone = MobileNetV2Backbone(config.width_mult)
        bb = self.backbone
        d = config.head_depth
        self.head_stage = d
        self.iam = IAM(bb.stage_channels[d - 1], bb.stage_strides[d - 1], config.iam_channels,
                       config.S, config.num_classes)
        self.pyramid = nn.ModuleList(
            [PyramidMaskLayer(bb.stage_channels[s - 1], config.M) for s in PYRAMID_STAGES])
        self.tail = Tail(config.M, config.tail_channels)

    # ------------------------------------------------------------ frame
    def forward_train(self, images: torch.Tensor) -> dict[str, Any]:
        """Raw outputs for the losses: box_params (B, n, 4), cls_logits (B, n, C),
        boxes (B, n, 4) decoded, p1, p2, p3, image_size (H, W)."""
        cfg = self.config
        taps = self.backbone.forward_taps(images, sorted({self.head_stage, *PYRAMID_STAGES}))
        grid = self.iam(taps[self.head_stage])                        # (B, 4 + C, S, S)
        grid = grid.flatten(2).transpose(1, 2)                        # (B, n, 4 + C)
        params, logits = grid[..., :4], grid[..., 4:]
        height, width = int(images.shape[-2]), int(images.shape[-1])
        boxes = decode_boxes(params, cfg.S, height, width)
        p1, p2, p3 = (layer(taps[s]) for layer, s in zip(self.pyramid, PYRAMID_STAGES))
        return {"box_params": params, "cls_logits": logits, "boxes": boxes,
                "p1": p1, "p2": p2, "p3": p3, "image_size": (height, width)}

    def forward_frame(self, images: torch.Tensor):
        """images (B, 3, H, W) normalised -> boxes (B, n, 4) x1, y1, x2, y2 in
        input pixels, scores (B, n, C) sigmoid, p1, p2, p3 (strides 8, 16, 32)."""
        out = self.forward_train(images)
        return (out["boxes"], torch.sigmoid(out["cls_logits"]), out["p1"], out["p2"],
                out["p3"])

    forward = forward_frame

    # ------------------------------------------------------------- tail
    def forward_tail(self, rois: torch.Tensor) -> torch.Tensor:
        """Fused ROI features (K, M, S1, S1) -> mask logits (K, 1, 2 S1, 2 S1)."""
        return self.tail(rois)

    def fuse(self, p1: torch.Tensor, p2: torch.Tensor, p3: torch.Tensor,
             rois: torch.Tensor) -> torch.Tensor:
        """RFF of (K, 5) ROI rows [batch_index, x1, y1, x2, y2] (input px)."""
        cfg = self.config
        return roi_feature_fusion(p1, p2, p3, rois, cfg.S1, cfg.strides, cfg.use_rff)

    def forward_masks(self, p1: torch.Tensor, p2: torch.Tensor, p3: torch.Tensor,
                      rois: torch.Tensor) -> torch.Tensor:
        """Tail on the RFF of the given ROIs: (K, 1, 2 S1, 2 S1) logits."""
        return self.forward_tail(self.fuse(p1, p2, p3, rois))


def build_model(config: ModelConfig | Mapping[str, Any]) -> FASSST:
    if not isinstance(config, ModelConfig):
        config = ModelConfig.from_dict(dict(config))
    return FASSST(config)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- ImageNet

def load_imagenet_backbone(model: FASSST, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Loads MobileNetV2 ImageNet weights laid out as torchvision's
    ``mobilenet_v2`` state dict (keys ``features.0.0.weight`` ...): keys
    ``features.{i}.*`` with i <= 17 map to ``backbone.features.{i}.*``;
    ``features.18.*`` (the 1280-channel conv) and ``classifier.*`` are ignored.
    The width multiplier must match the weights'. Returns the loaded keys and
    raises ValueError on a missing key or a shape mismatch."""
    own = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("module."):
            key = key[len("module."):]
        parts = key.split(".")
        if parts[0] != "features" or len(parts) < 2 or not parts[1].isdigit():
            continue
        if int(parts[1]) >= len(model.backbone.features):
            continue
        mapped["backbone." + key] = value
    wanted = [k for k in own if k.startswith("backbone.")]
    missing = [k for k in wanted if k not in mapped]
    if missing:
        raise ValueError(f"{len(missing)} backbone keys missing from the ImageNet weights, "
                         f"e.g. {missing[:3]} (not a MobileNetV2 state dict?)")
    bad = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in mapped.items()
           if tuple(v.shape) != tuple(own[k].shape)]
    if bad:
        k, got, want = bad[0]
        raise ValueError(f"{len(bad)} shape mismatches, e.g. {k}: weights {got}, model {want} "
                         f"(width_mult {model.config.width_mult} does not match the weights?)")
    model.load_state_dict(mapped, strict=False)
    return sorted(mapped)


# -------------------------------------------------------------------- ONNX
# The two modules fassst_rt/train/export.py traces into NAME.onnx and NAME.tail.onnx.

class FrameGraph(nn.Module):
    """The frame graph: images -> boxes, scores, p1, p2, p3."""

    def __init__(self, model: FASSST):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        return self.model.forward_frame(images)


class TailGraph(nn.Module):
    """The tail graph: rois (K, M, S1, S1) -> masks (K, 1, 2 S1, 2 S1) logits."""

    def __init__(self, model: FASSST):
        super().__init__()
        self.model = model

    def forward(self, rois: torch.Tensor) -> torch.Tensor:
        return self.model.forward_tail(rois)
