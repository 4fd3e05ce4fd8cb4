"""Float64 references of the ROI numerics, written from the definitions in
docs/kernels.md with plain loops. They share no code with the kernels."""

import math

import numpy as np


def _roialign_sample(plane, y, x):
    """RoIAlign's bilinear sample of a 2-D plane at (y, x)."""
    height, width = plane.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(math.floor(y)), int(math.floor(x))
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * plane[y_low, x_low] + hy * lx * plane[y_low, x_high]
            + ly * hx * plane[y_high, x_low] + ly * lx * plane[y_high, x_high])


def roi_align(feature, rois, out_size, stride):
    """Aligned RoIAlign, one sample per bin: bin (i, j) of box (x1, y1, x2, y2)
    samples x = x1/s - 0.5 + (j + 0.5) (x2 - x1) / (s S), y likewise."""
    feature = np.asarray(feature, dtype=np.float64)
    rois = np.asarray(rois, dtype=np.float64)
    channels = feature.shape[1]
    out = np.zeros((len(rois), channels, out_size, out_size))
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        bin_w = (x2 - x1) / (stride * out_size)
        bin_h = (y2 - y1) / (stride * out_size)
        for c in range(channels):
            plane = feature[int(b), c]
            for i in range(out_size):
                y = y1 / stride - 0.5 + (i + 0.5) * bin_h
                for j in range(out_size):
                    x = x1 / stride - 0.5 + (j + 0.5) * bin_w
                    out[k, c, i, j] = _roialign_sample(plane, y, x)
    return out


def _source_index(dst, src_size):
    """Half-pixel source coordinate of output index dst of a x2 upsample."""
    src = (dst + 0.5) / 2.0 - 0.5
    src = max(src, 0.0)
    lo = int(math.floor(src))
    hi = min(lo + 1, src_size - 1)
    return lo, hi, src - lo


def upsample2(x):
    """Bilinear x2 upsampling with align_corners=False of (..., h, w)."""
    x = np.asarray(x, dtype=np.float64)
    h, w = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (2 * h, 2 * w))
    for i in range(2 * h):
        y0, y1, ly = _source_index(i, h)
        for j in range(2 * w):
            x0, x1, lx = _source_index(j, w)
            out[..., i, j] = ((1 - ly) * ((1 - lx) * x[..., y0, x0] + lx * x[..., y0, x1])
                              + ly * ((1 - lx) * x[..., y1, x0] + lx * x[..., y1, x1]))
    return out


def roi_fuse(p1, p2, p3, rois, out_size, strides=(8, 16, 32)):
    """relu(R1 + up2(R2 + up2(R3))) composed from the unfused references."""
    r1 = roi_align(p1, rois, out_size, strides[0])
    r2 = roi_align(p2, rois, out_size // 2, strides[1])
    r3 = roi_align(p3, rois, out_size // 4, strides[2])
    return np.maximum(r1 + upsample2(r2 + upsample2(r3)), 0.0)
