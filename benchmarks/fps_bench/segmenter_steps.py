"""The Segmenter's per-frame steps one call at a time, so that fps.py can time and
feed them apart: preprocess (frame conversion, letterbox, normalisation) and select
(selection and ROI assembly) are the Segmenter's own public steps (the C++ core's);
instances puts masks and boxes back in frame pixels. Every pre- and post-processing
step of benchmarks/ goes through this module; tests/test_fps_steps.py holds the
stage-by-stage instances equal to ``Segmenter.run``'s.
"""

from typing import List, NamedTuple, Sequence, Tuple

import numpy as np

from fassst_rt import processing
from fassst_rt.results import Instances


class Preprocessed(NamedTuple):
    sizes: List[Tuple[int, int]]             # (H, W) of each frame
    letterboxes: List[processing.Letterbox]  # one per frame: the geometry back to the frame
    batch: np.ndarray                        # (B, 3, size, size) float32 network input


class Selected(NamedTuple):
    selections: List[processing.Selection]  # per frame: cells, labels, scores in descending score
    rois: np.ndarray                        # (K, 5) float32 [frame index, x1, y1, x2, y2], network-input pixels


def preprocess(seg, frames: Sequence[np.ndarray]) -> Preprocessed:
    """Frames -> the frame graph's input, as ``seg`` makes it."""
    batch, letterboxes = seg.preprocess(frames)
    return Preprocessed([tuple(f.shape[:2]) for f in frames], letterboxes, batch)


def select(seg, outputs, count: int) -> Selected:
    """The frame graph's outputs for ``count`` frames -> the instances ``seg`` keeps (its
    score threshold, NMS threshold and max_instances) and their ROIs for the RFF kernel."""
    selections, rois = seg.select(outputs.boxes[:count], outputs.scores[:count])
    return Selected(selections, rois)


def instances(seg, pre: Preprocessed, sel: Selected, logits) -> List[Instances]:
    """The tail's mask logits for ``sel.rois`` -> one Instances per frame, boxes in frame pixels."""
    m = seg.metadata
    if len(sel.rois):
        box_masks = processing.sigmoid(np.asarray(logits, np.float32)[:, 0])
    else:
        box_masks = np.zeros((0, 2 * m.roi_size, 2 * m.roi_size), np.float32)
    results = []
    start = 0
    for (h, w), lb, s in zip(pre.sizes, pre.letterboxes, sel.selections):
        k = len(s.cells)
        net_boxes = sel.rois[start:start + k, 1:]
        results.append(Instances(
            boxes=processing.boxes_to_frame(net_boxes, lb, h, w, clip=True), scores=s.scores, labels=s.labels,
            names=m.class_names, box_masks=box_masks[start:start + k],
            mask_boxes=processing.boxes_to_frame(net_boxes, lb, h, w, clip=False), image_size=(h, w)))
        start += k
    return results


def segment(seg, frames: Sequence[np.ndarray]) -> List[Instances]:
    """The whole path step by step (no tiling): what ``seg.run_batch(frames)`` computes."""
    pre = preprocess(seg, frames)
    outputs = seg.backend.run_frame(pre.batch)
    sel = select(seg, outputs, len(frames))
    logits = seg.backend.fuse_and_tail(outputs, sel.rois) if len(sel.rois) else None
    return instances(seg, pre, sel, logits)
