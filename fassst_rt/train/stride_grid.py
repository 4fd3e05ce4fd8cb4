"""The stride-grid form of a FASSST model: the same weights, a grid defined by
its cell size instead of its cell count, so one network pass covers a whole
frame of any shape (docs/results/dense.md).

A model trained at input ``in`` with an S x S grid has cells of ``in / S``
pixels. Its IAM pools a stride-32 map of ``in / 32`` columns to S columns
(``GridPool``). That adaptive pooling is periodic: with ``g = gcd(in / 32, S)``
every ``q = in / 32 / g`` feature columns map to ``p = S / g`` cells by the
same ``p x q`` matrix. Applied block by block to a map of ``k q`` columns it
gives ``k p`` cells of exactly the tile's geometry, so a frame padded to a
multiple of ``32 q`` pixels (the *period*) gets ``H / cell x W / cell`` cells,
each pooled as a tile's cell is (192 px input, S = 8: cell 24 px, 3 feature
columns -> 4 cells, period 96 px).

Box decoding is relative to the cell, as in training: ``cx = (col + 0.5 +
dx) * cell``, ``w = cell * exp(clamp(lw, -6, log 2S))`` with the trained S in
the clamp, so a box may span at most twice the trained input.
"""

from __future__ import annotations

import math
import torch
import torch.nn as nn

from .network import FASSST, GridPool, LOG_SIZE_MIN, PYRAMID_STAGES

__all__ = ["grid_period", "StrideGridPool", "StrideGridFrame", "load_onnx_weights", "onnx_conv_weights",
           "conv_modules_in_order", "batchnorm_after"]


def grid_period(input_size: int, S: int, feature_stride: int = 32) -> tuple[int, int, int]:
    """(p, q, period_px): q stride-32 feature columns pool to p cells; a frame
    padded to a multiple of period_px (= q * feature_stride) pools exactly as
    the trained tiles do."""
    if input_size % feature_stride:
        raise ValueError(f"input_size must be a multiple of {feature_stride}, got {input_size}")
    n = input_size // feature_stride
    g = math.gcd(n, S)
    return S // g, n // g, (n // g) * feature_stride


class StrideGridPool(nn.Module):
    """Block-periodic adaptive average pooling: (B, C, k q, l q) ->
    (B, C, k p, l p), each q x q block pooled by the trained grid's matrix.
    Exports to ONNX with dynamic height and width (reshape + matmul)."""

    def __init__(self, p: int, q: int):
        super().__init__()
        self.p, self.q = p, q
        self.register_buffer("matrix", GridPool.matrix(p, q, torch.zeros(())), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        a = self.matrix.to(x.dtype)
        # rows: (b, c, k, q, w) -> (b, c, k, p, w)
        y = torch.matmul(a, x.reshape(b, c, h // self.q, self.q, w))
        y = y.reshape(b, c, (h // self.q) * self.p, w)
        # columns: (b, c, H', l, q) @ a^T -> (b, c, H', l, p)
        y = torch.matmul(y.reshape(b, c, (h // self.q) * self.p, w // self.q, self.q), a.t())
        return y.reshape(b, c, (h // self.q) * self.p, (w // self.q) * self.p)


class StrideGridFrame(nn.Module):
    """The frame graph of the stride-grid form: images (B, 3, H, W), H and W
    multiples of the period -> boxes (B, n, 4) in input pixels, scores (B, n,
    C), p1, p2, p3; n = (H / cell) * (W / cell), cell c = row * cols + col."""

    def __init__(self, model: FASSST):
        super().__init__()
        cfg = model.config
        self.model = model
        self.S = cfg.S
        self.cell = cfg.input_size / cfg.S
        p, q, self.period = grid_period(cfg.input_size, cfg.S)
        self.pool = StrideGridPool(p, q)

    def forward(self, images: torch.Tensor):
        model = self.model
        taps = model.backbone.forward_taps(images, sorted({model.head_stage, *PYRAMID_STAGES}))
        iam = model.iam
        grid = iam.predict(iam.grid(self.pool(iam.pre(taps[model.head_stage]))))  # (B, 4 + C, rows, cols)
        b, _, rows, cols = grid.shape
        grid = grid.flatten(2).transpose(1, 2)
        params, logits = grid[..., :4], grid[..., 4:]
        cell = self.cell
        col = (torch.arange(cols, dtype=params.dtype) + 0.5).repeat(rows)
        row = (torch.arange(rows, dtype=params.dtype) + 0.5).repeat_interleave(cols)
        log_max = math.log(2 * self.S)
        cx = (col + params[..., 0]) * cell
        cy = (row + params[..., 1]) * cell
        w = torch.exp(params[..., 2].clamp(LOG_SIZE_MIN, log_max)) * cell
        h = torch.exp(params[..., 3].clamp(LOG_SIZE_MIN, log_max)) * cell
        boxes = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
        p1, p2, p3 = (layer(taps[s]) for layer, s in zip(model.pyramid, PYRAMID_STAGES))
        return boxes, torch.sigmoid(logits), p1, p2, p3


# ------------------------------------------------------ weights from ONNX

def conv_modules_in_order(model: FASSST) -> list[nn.Module]:
    """The model's Conv2d / ConvTranspose2d modules in the order a forward
    pass (frame, then tail) runs them."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.no_grad():
            size = model.config.input_size
            model.eval().forward_frame(torch.zeros(1, 3, size, size))
            model.forward_tail(torch.zeros(1, model.config.M, model.config.S1, model.config.S1))
    finally:
        for h in hooks:
            h.remove()
    return order


def onnx_conv_weights(path: str) -> list[tuple[str, "object", "object"]]:
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    out = []
    for node in proto.graph.node:
        # the export shares equal initializers (zero biases) through Identity nodes
        if node.op_type == "Identity" and node.input[0] in init:
            init[node.output[0]] = init[node.input[0]]
        if node.op_type in ("Conv", "ConvTranspose"):
            w = init[node.input[1]]
            b = init[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            out.append((node.op_type, w, b))
    return out


def load_onnx_weights(model: FASSST, frame_onnx: str, tail_onnx: str) -> None:
    """Loads an exported model's weights (BatchNorm folded into the
    convolutions by the export) into ``model``, whose architecture must be
    the exported one: each BatchNorm becomes the identity plus the folded
    bias. Raises ValueError on a layout mismatch."""
    convs = conv_modules_in_order(model)
    weights = onnx_conv_weights(frame_onnx) + onnx_conv_weights(tail_onnx)
    if len(convs) != len(weights):
        raise ValueError(f"the model runs {len(convs)} convolutions, the ONNX files hold {len(weights)}")
    followers = batchnorm_after(model)
    with torch.no_grad():
        for i, (conv, (op, w, b)) in enumerate(zip(convs, weights)):
            expected = "ConvTranspose" if isinstance(conv, nn.ConvTranspose2d) else "Conv"
            if op != expected or tuple(conv.weight.shape) != tuple(w.shape):
                raise ValueError(f"convolution {i}: model {expected} {tuple(conv.weight.shape)}, "
                                 f"ONNX {op} {tuple(w.shape)}")
            conv.weight.copy_(torch.from_numpy(w))
            bias = torch.zeros(w.shape[1] if op == "ConvTranspose" else w.shape[0]) if b is None \
                else torch.from_numpy(b)
            bn = followers.get(conv)
            if conv.bias is not None:
                conv.bias.copy_(bias)
            elif bn is not None:
                bn.weight.fill_(1.0)
                bn.bias.copy_(bias)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif b is not None and bool((bias != 0).any()):
                raise ValueError(f"convolution {i} has a bias in ONNX but none in the model")


def batchnorm_after(model: nn.Module) -> dict:
    """conv -> the BatchNorm2d right after it in the same Sequential."""
    out = {}
    for m in model.modules():
        if isinstance(m, nn.Sequential):
            items = list(m)
            for a, b in zip(items, items[1:]):
                if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                    out[a] = b
    return out

