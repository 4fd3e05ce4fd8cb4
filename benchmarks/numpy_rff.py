"""The unfused RFF in vectorised NumPy: a baseline for benchmarks/kernels.py
(three RoIAlign gathers, two upsamples, adds and a ReLU, each materialised)."""

import numpy as np


def _axis_taps(coord, size):
    """RoIAlign's per-axis rule: validity, clamped low/high indices, weights."""
    valid = (coord >= -1.0) & (coord <= size)
    c = np.maximum(coord, 0.0)
    lo = np.floor(c).astype(np.int64)
    at_edge = lo >= size - 1
    lo = np.where(at_edge, size - 1, lo)
    hi = np.where(at_edge, size - 1, lo + 1)
    c = np.where(at_edge, lo.astype(c.dtype), c)
    frac = c - lo
    return lo, hi, (1.0 - frac) * valid, frac * valid


def roi_align_numpy(feature, rois, out_size, stride):
    scale = np.float32(1.0 / stride)
    b = rois[:, 0].astype(np.int64)
    grid = (np.arange(out_size, dtype=np.float32) + 0.5)[None, :]
    start_x, start_y = rois[:, 1:2] * scale - 0.5, rois[:, 2:3] * scale - 0.5
    bin_x = (rois[:, 3:4] * scale - 0.5 - start_x) / out_size
    bin_y = (rois[:, 4:5] * scale - 0.5 - start_y) / out_size
    ylo, yhi, wy0, wy1 = _axis_taps(start_y + grid * bin_y, feature.shape[2])
    xlo, xhi, wx0, wx1 = _axis_taps(start_x + grid * bin_x, feature.shape[3])
    bb = b[:, None, None]

    def gather(yi, xi):  # -> (K, S, S, C)
        return feature[bb, :, yi[:, :, None], xi[:, None, :]]

    out = (wy0[:, :, None, None] * (wx0[:, None, :, None] * gather(ylo, xlo) + wx1[:, None, :, None] * gather(ylo, xhi))
           + wy1[:, :, None, None] * (wx0[:, None, :, None] * gather(yhi, xlo) + wx1[:, None, :, None] * gather(yhi, xhi)))
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32)


def upsample2_numpy(x):
    h, w = x.shape[-2:]

    def taps(n):
        src = np.maximum((np.arange(2 * n, dtype=np.float32) + 0.5) * 0.5 - 0.5, 0.0)
        lo = np.floor(src).astype(np.int64)
        return lo, np.minimum(lo + 1, n - 1), (src - lo).astype(np.float32)

    ylo, yhi, ly = taps(h)
    xlo, xhi, lx = taps(w)
    rows = x[..., ylo, :] * (1 - ly)[:, None] + x[..., yhi, :] * ly[:, None]
    return rows[..., xlo] * (1 - lx) + rows[..., xhi] * lx


def roi_fuse_numpy(p1, p2, p3, rois, out_size, strides=(8, 16, 32)):
    r1 = roi_align_numpy(p1, rois, out_size, strides[0])
    r2 = roi_align_numpy(p2, rois, out_size // 2, strides[1])
    r3 = roi_align_numpy(p3, rois, out_size // 4, strides[2])
    return np.maximum(r1 + upsample2_numpy(r2 + upsample2_numpy(r3)), 0.0)
