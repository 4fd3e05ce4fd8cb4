"""The Segmenter's per-frame steps one call at a time, so that fps.py can time and
feed them apart: frame conversion, letterbox and normalisation (preprocess),
selection and ROI assembly (select), masks and boxes back in frame pixels
(instances).

Every pre- and post-processing step of benchmarks/ goes through this module. It
calls fassst_rt.processing exactly as fassst_rt/segmenter.py (``Segmenter.run`` and
``_segment``) does, with the Segmenter's own settings; tests/test_fps_steps.py holds
the stage-by-stage instances equal to ``Segmenter.run``'s. When the Segmenter offers
these steps itself (public ``preprocess`` / ``select``), their bodies here become
calls to it and nothing else in benchmarks/ changes.
"""

from typing import List, NamedTuple, Sequence

import numpy as np

from fassst_rt import processing
from fassst_rt.input_mapping import frame_to_uint8_rgb_or_bgr
from fassst_rt.results import Instances


class Preprocessed(NamedTuple):
    images: List[np.ndarray]                 # the frames as 8-bit 3-channel images (Segmenter.run's mapping)
    letterboxes: List[processing.Letterbox]  # one per image: canvas and the geometry back to the frame
    batch: np.ndarray                        # (B, 3, size, size) float32 network input


class Selected(NamedTuple):
    selections: List[processing.Selection]  # per frame: cells, labels, scores in descending score
    rois: np.ndarray                        # (K, 5) float32 [frame index, x1, y1, x2, y2], network-input pixels


def swaps_channels(seg) -> bool:
    """The channel-order rule: red and blue are swapped when the frames' order (the
    Segmenter's ``channel_order``) differs from the order the model was trained on
    (its metadata's)."""
    return seg.channel_order != seg.metadata.channel_order


def preprocess(seg, frames: Sequence[np.ndarray]) -> Preprocessed:
    """Frames -> the frame graph's input, as ``seg`` makes it."""
    m = seg.metadata
    images = [frame_to_uint8_rgb_or_bgr(f, m.uint16_mapping) for f in frames]
    swap = swaps_channels(seg)
    letterboxes = [processing.letterbox(img, m.input_size) for img in images]
    batch = np.concatenate([processing.to_network_input(lb.image, m.mean, m.std, bgr=swap) for lb in letterboxes])
    return Preprocessed(images, letterboxes, batch)


def select(seg, outputs, count: int) -> Selected:
    """The frame graph's outputs for ``count`` frames -> the instances ``seg`` keeps (its
    score threshold, NMS threshold and max_instances) and their ROIs for the RFF kernel."""
    selections = [processing.select(outputs.boxes[b], outputs.scores[b], seg.score_threshold, seg.nms_threshold,
                                    seg.max_instances) for b in range(count)]
    rois = np.concatenate([
        np.concatenate([np.full((len(s.cells), 1), b, np.float32), outputs.boxes[b][s.cells]], axis=1)
        for b, s in enumerate(selections)]).astype(np.float32).reshape(-1, 5)
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
    for img, lb, s in zip(pre.images, pre.letterboxes, sel.selections):
        k = len(s.cells)
        net_boxes = sel.rois[start:start + k, 1:]
        h, w = img.shape[:2]
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
