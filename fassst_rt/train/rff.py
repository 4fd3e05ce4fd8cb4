"""RoIAlign and ROI feature fusion (RFF) in pure PyTorch.

The numerics are the project's (docs/kernels.md, DESIGN section 2), equal to the
C++ kernels ``fassst_rt.ops.roi_crop`` / ``roi_fuse`` to float32 rounding:

- ``roi_align(feature, rois, output_size, stride)`` takes the same arguments as
  ``fassst_rt.ops.roi_crop``. It is RoIAlign with ``aligned=True`` and
  ``sampling_ratio=1``: with scale = 1 / stride, bin (i, j) of a box
  (x1, y1, x2, y2) samples the map bilinearly at
  ``x = x1*scale - 0.5 + (j + 0.5) * (x2 - x1)*scale / S`` (y likewise), computed
  in the kernels' order (start = x1*scale - 0.5, end = x2*scale - 0.5,
  bin = (end - start) / S, x = start + j*bin + 0.5*bin). A sample with
  y < -1 or y > H (x likewise) is 0; otherwise y <= 0 becomes 0 and a sample at
  or past the last row reads the last row, as torchvision's bilinear_interpolate.
  Inverted and empty boxes follow the same rules (negative or zero bins).
- ``roi_feature_fusion`` is ``relu(R1 + up2(R2 + up2(R3)))`` with R_l the crops
  of p_l at S1, S1/2, S1/4 and ``up2`` bilinear x2, ``align_corners=False``.

Both are vectorised over ROIs (gathers, no Python loop over K) and
differentiable with respect to the features (not the boxes).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["roi_align", "roi_feature_fusion", "up2"]


def _axis_taps(lo: torch.Tensor, hi: torch.Tensor, spatial_scale: float, out: int, size: int):
    """Per ROI and bin along one axis: the two source indices, their weights
    (zeroed for samples outside [-1, size]). lo, hi: (K,) box edges in input px."""
    start = lo * spatial_scale - 0.5
    end = hi * spatial_scale - 0.5
    bin_ = (end - start) / out                                              # (K,)
    idx = torch.arange(out, device=lo.device, dtype=lo.dtype)
    coord = start[:, None] + idx[None, :] * bin_[:, None] + 0.5 * bin_[:, None]   # (K, out)
    valid = (coord >= -1.0) & (coord <= float(size))
    coord = coord.clamp(min=0.0)
    low = coord.floor().to(torch.long)
    at_end = low >= size - 1
    low = torch.where(at_end, torch.full_like(low, size - 1), low)
    high = torch.where(at_end, low, low + 1)
    coord = torch.where(at_end, low.to(coord.dtype), coord)
    frac = coord - low.to(coord.dtype)
    w_low = torch.where(valid, 1.0 - frac, torch.zeros_like(frac))
    w_high = torch.where(valid, frac, torch.zeros_like(frac))
    return low.clamp(0, size - 1), high.clamp(0, size - 1), w_low, w_high


def roi_align(feature: torch.Tensor, rois: torch.Tensor, output_size: int, stride: float) -> torch.Tensor:
    """Aligned RoIAlign with one sample per bin, the arguments of
    ``fassst_rt.ops.roi_crop``.

    feature (B, C, H, W); rois (K, 5) rows [batch_index, x1, y1, x2, y2] in input
    pixels; ``stride``: the feature map's stride in input pixels (the map is
    sampled at input coordinates / stride). Returns (K, C, S, S) in the
    feature's dtype."""
    stride = float(stride)
    if not stride > 0.0 or stride == float("inf"):
        raise ValueError(f"stride must be a positive finite number (input pixels per feature pixel), got {stride}")
    spatial_scale = 1.0 / stride
    if feature.dim() != 4:
        raise ValueError(f"feature must be (B, C, H, W), got {tuple(feature.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (K, 5), got {tuple(rois.shape)}")
    s = int(output_size)
    if s < 1:
        raise ValueError(f"output_size must be >= 1, got {output_size}")
    _, channels, height, width = feature.shape
    k = rois.shape[0]
    if k == 0:
        return feature.new_zeros((0, channels, s, s))
    rois = rois.to(dtype=feature.dtype, device=feature.device)
    batch = rois[:, 0].to(torch.long)
    ylo, yhi, wyl, wyh = _axis_taps(rois[:, 2], rois[:, 4], spatial_scale, s, height)
    xlo, xhi, wxl, wxh = _axis_taps(rois[:, 1], rois[:, 3], spatial_scale, s, width)
    # (B, H, W, C) so that one gather returns channel vectors
    fmap = feature.permute(0, 2, 3, 1)
    b = batch[:, None, None]

    def gather(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return fmap[b, yi[:, :, None], xi[:, None, :]]                     # (K, S, S, C)

    # Same association as the kernels: weights hy*hx etc. multiply the taps.
    w_ll = (wyl[:, :, None] * wxl[:, None, :])[..., None]
    w_lh = (wyl[:, :, None] * wxh[:, None, :])[..., None]
    w_hl = (wyh[:, :, None] * wxl[:, None, :])[..., None]
    w_hh = (wyh[:, :, None] * wxh[:, None, :])[..., None]
    out = (w_ll * gather(ylo, xlo) + w_lh * gather(ylo, xhi)
           + w_hl * gather(yhi, xlo) + w_hh * gather(yhi, xhi))
    return out.permute(0, 3, 1, 2).contiguous()


def up2(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 upsampling with half-pixel centres (align_corners=False)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def roi_feature_fusion(p1: torch.Tensor, p2: torch.Tensor, p3: torch.Tensor, rois: torch.Tensor,
                       S1: int = 28, strides: Sequence[float] = (8, 16, 32),
                       use_rff: bool = True) -> torch.Tensor:
    """R = relu(R1 + up2(R2 + up2(R3))), (K, M, S1, S1).

    With ``use_rff=False`` (the paper's Table 9 ablation) the tail gets R1 alone,
    ``roi_align(p1, rois, S1, strides[0])`` as it is (no ReLU), which is what the
    runtime's ``roi_crop`` gives."""
    S1 = int(S1)
    if S1 < 4 or S1 % 4:
        raise ValueError(f"S1 must be a positive multiple of 4, got {S1}")
    r1 = roi_align(p1, rois, S1, strides[0])
    if not use_rff:
        return r1
    r2 = roi_align(p2, rois, S1 // 2, strides[1])
    r3 = roi_align(p3, rois, S1 // 4, strides[2])
    if r1.shape[0] == 0:
        return r1
    return torch.relu(r1 + up2(r2 + up2(r3)))
