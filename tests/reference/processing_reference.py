"""Float64 references of letterbox, select and paste, written from the
definitions in docs/architecture.md with plain loops."""

import math

import numpy as np


def _linear(src, size):
    src = max(src, 0.0)
    lo = min(int(math.floor(src)), size - 1)
    hi = min(lo + 1, size - 1)
    return lo, hi, src - lo


def letterbox(image, size, pad=114):
    h, w, c = image.shape
    r = min(size / h, size / w)
    nw, nh = max(1, min(size, int(round(w * r)))), max(1, min(size, int(round(h * r))))
    px, py = (size - nw) // 2, (size - nh) // 2
    out = np.full((size, size, c), pad, np.float64)
    img = image.astype(np.float64)
    for i in range(nh):
        y0, y1, ly = _linear((i + 0.5) * h / nh - 0.5, h)
        for j in range(nw):
            x0, x1, lx = _linear((j + 0.5) * w / nw - 0.5, w)
            out[py + i, px + j] = ((1 - ly) * ((1 - lx) * img[y0, x0] + lx * img[y0, x1])
                                   + ly * ((1 - lx) * img[y1, x0] + lx * img[y1, x1]))
    return out, (r, px, py, nw, nh)


def iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = max(0, a[2] - a[0]) * max(0, a[3] - a[1]) + max(0, b[2] - b[0]) * max(0, b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def select(boxes, scores, score_threshold, nms_threshold, max_instances):
    labels = scores.argmax(1)
    best = scores.max(1)
    candidates = sorted((i for i in range(len(boxes)) if best[i] >= score_threshold),
                        key=lambda i: (-best[i], i))
    kept = []
    for i in candidates:
        if len(kept) == max_instances:
            break
        if all(labels[j] != labels[i] or iou(boxes[j], boxes[i]) <= nms_threshold for j in kept):
            kept.append(i)
    return kept, [int(labels[i]) for i in kept]


def paste_probabilities(box_mask, box, height, width):
    """Probability of every frame pixel (NaN outside the box)."""
    sm = box_mask.shape[0]
    x1, y1, x2, y2 = box
    out = np.full((height, width), np.nan)
    for v in range(height):
        for u in range(width):
            cx, cy = u + 0.5, v + 0.5
            if not (x1 <= cx <= x2 and y1 <= cy <= y2) or x2 <= x1 or y2 <= y1:
                continue
            y0, yb, ly = _linear((cy - y1) / (y2 - y1) * sm - 0.5, sm)
            x0, xb, lx = _linear((cx - x1) / (x2 - x1) * sm - 0.5, sm)
            out[v, u] = ((1 - ly) * ((1 - lx) * box_mask[y0, x0] + lx * box_mask[y0, xb])
                         + ly * ((1 - lx) * box_mask[yb, x0] + lx * box_mask[yb, xb]))
    return out
