"""The parity rule between two implementations of the pipeline
(docs/architecture.md): match instances by box IoU >= 0.9, ignore instances
whose score lies within 1e-4 of the score threshold, then boxes within 1e-3
relative and per-instance mask IoU >= 0.99, leaving out the pixels whose mask
probability lies within 1e-3 of the mask threshold in both."""

from typing import List

import numpy as np

from .results import Instances

BOX_IOU_MATCH = 0.9
SCORE_MARGIN = 1e-4
BOX_RTOL = 1e-3
MASK_IOU = 0.99
MASK_MARGIN = 1e-3


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Box IoU; boxes equal within the box tolerance count as IoU 1 even when
    degenerate (a box clipped to a frame edge has no area)."""
    if np.abs(a - b).max() <= BOX_RTOL * max(1.0, float(np.abs(a).max())):
        return 1.0
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _mask_iou(a: np.ndarray, b: np.ndarray, where=True) -> float:
    inter = np.logical_and(np.logical_and(a, b), where).sum()
    union = np.logical_and(np.logical_or(a, b), where).sum()
    return 1.0 if union == 0 else float(inter / union)


def _certain_pixels(inst: Instances, i: int) -> np.ndarray:
    """(H, W) bool: the frame pixels whose mask probability for instance ``i``
    is not within MASK_MARGIN of the mask threshold."""
    from .processing import paste_masks

    height, width = inst.image_size
    cut = [paste_masks(inst.box_masks[i:i + 1], inst.mask_boxes[i:i + 1], height, width,
                       inst.mask_threshold + d)[0] for d in (-MASK_MARGIN, MASK_MARGIN)]
    return cut[0] == cut[1]


def parity_problems(a: Instances, b: Instances, score_threshold: float) -> List[str]:
    """What breaks the parity rule between ``a`` and ``b`` (empty: they agree)."""
    problems = []
    if a.image_size != b.image_size:
        return ["image sizes differ: {} vs {}".format(a.image_size, b.image_size)]

    def certain(inst: Instances) -> List[int]:
        return [i for i in range(len(inst)) if abs(inst.scores[i] - score_threshold) > SCORE_MARGIN]

    matched_b = set()
    masks_a, masks_b = a.masks, b.masks
    for i in certain(a):
        candidates = [(j, _iou(a.boxes[i], b.boxes[j])) for j in range(len(b))
                      if j not in matched_b and b.labels[j] == a.labels[i]]
        j, best = max(candidates, key=lambda c: c[1], default=(None, 0.0))
        if j is None or best < BOX_IOU_MATCH:
            problems.append("instance {} ({} {:.4f}) has no match (best box IoU {:.3f})".format(
                i, a.names[a.labels[i]], a.scores[i], best))
            continue
        matched_b.add(j)
        scale = max(1.0, float(np.abs(a.boxes[i]).max()))
        if np.abs(a.boxes[i] - b.boxes[j]).max() > BOX_RTOL * scale:
            problems.append("instance {}: boxes differ: {} vs {}".format(i, a.boxes[i], b.boxes[j]))
        mask_iou = _mask_iou(masks_a[i], masks_b[j])
        if mask_iou < MASK_IOU:
            # Pixels within the margin of the threshold in both flip with
            # float rounding (a small object's mask can hold several): left
            # out, as instances at the score threshold are.
            certain_pixels = _certain_pixels(a, i) | _certain_pixels(b, j)
            mask_iou = _mask_iou(masks_a[i], masks_b[j], certain_pixels)
        if mask_iou < MASK_IOU:
            problems.append("instance {}: mask IoU {:.4f} < {}".format(i, mask_iou, MASK_IOU))
    for j in certain(b):
        if j not in matched_b:
            problems.append("instance {} of the second result ({} {:.4f}) is unmatched".format(
                j, b.names[b.labels[j]], b.scores[j]))
    return problems
