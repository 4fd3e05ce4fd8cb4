"""Pre- and post-processing of a frame, as docs/architecture.md defines them:
letterbox, normalisation, selection (NMS) and mask pasting.

The arithmetic lives in the C++ core (``fassst_rt._C``), shared with the C++
API; this module checks arguments and converts NumPy arrays. The training data
loader, the evaluator and the runtime all call these functions, so that they
agree to the pixel.
"""

from typing import NamedTuple, Sequence

import numpy as np

from . import _C

__all__ = ["Letterbox", "Selection", "letterbox", "letterbox_geometry", "to_network_input", "preprocess_frames",
           "boxes_to_frame", "select", "paste_masks", "sigmoid", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAD_VALUE = 114


class Letterbox(NamedTuple):
    """A letterboxed image and the geometry that maps it back to the frame."""

    image: np.ndarray  # (size, size, C) uint8
    scale: float       # r = min(size / H, size / W)
    pad_x: int
    pad_y: int
    new_width: int     # round(W r)
    new_height: int    # round(H r)


class Selection(NamedTuple):
    """Instances kept by :func:`select`, in descending score."""

    cells: np.ndarray   # (K,) int64 grid cell of each instance
    labels: np.ndarray  # (K,) int64 0-based class
    scores: np.ndarray  # (K,) float32


def _uint8_image(name: str, image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError("{} must be a NumPy array, got {}".format(name, type(image).__name__))
    if image.dtype != np.uint8:
        raise TypeError("{} must be uint8, got {}".format(name, image.dtype))
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1 or image.shape[2] < 1:
        raise ValueError("{} must have shape (H, W) or (H, W, C) with H, W, C >= 1, got {}"
                         .format(name, image.shape))
    return np.ascontiguousarray(image)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError("{} must be a positive int, got {!r}".format(name, value))
    return int(value)


def letterbox_geometry(height: int, width: int, size: int):
    """(scale, pad_x, pad_y, new_width, new_height) of a height x width frame."""
    return tuple(_C.letterbox_geometry(int(height), int(width), _positive_int("size", size)))


def letterbox(image: np.ndarray, size: int, pad: int = PAD_VALUE) -> Letterbox:
    """Resizes ``image`` (H, W[, C]) uint8 into a ``size`` x ``size`` canvas,
    aspect ratio kept, centred, padded with ``pad``: r = min(size/H, size/W),
    bilinear resize to (round(W r), round(H r)) with half-pixel centres
    (OpenCV INTER_LINEAR semantics, rounded to nearest; OpenCV's fixed-point
    arithmetic can differ by one grey level). Any channel count works, so masks
    can ride along as channels."""
    image = _uint8_image("image", image)
    canvas, geometry = _C.letterbox(image, _positive_int("size", size), int(pad))
    return Letterbox(canvas, *geometry)


def to_network_input(canvas: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN,
                     std: Sequence[float] = IMAGENET_STD, bgr: bool = True) -> np.ndarray:
    """A letterboxed (S, S, 3) uint8 canvas -> (1, 3, S, S) float32 RGB,
    (x / 255 - mean) / std. ``bgr`` says the canvas is in OpenCV's order."""
    canvas = _uint8_image("canvas", canvas)
    if canvas.shape[2] != 3:
        raise ValueError("canvas must have 3 channels, got {}".format(canvas.shape[2]))
    mean = [float(v) for v in np.asarray(mean, np.float32).reshape(-1)]
    std = [float(v) for v in np.asarray(std, np.float32).reshape(-1)]
    if len(mean) != 3 or len(std) != 3:
        raise ValueError("mean and std must have 3 values each, got {} and {}".format(len(mean), len(std)))
    return _C.to_network_input(canvas, mean, std, bool(bgr))


def preprocess_frames(frames: Sequence[np.ndarray], metadata, channel_order: str = "bgr"):
    """The runtime's first step for a model's ``metadata`` without a
    Segmenter (for runtimes that run the graphs themselves): frames in
    ``channel_order`` (any frame ``Segmenter.run`` takes) -> the (B, 3, S, S)
    float32 network input and each frame's :class:`Letterbox` geometry (its
    ``image`` is None). The C++ core's, as ``Segmenter.preprocess``."""
    batch, geometry = _C.preprocess_frames(list(frames), channel_order, metadata.to_json(), metadata.source)
    return batch, [Letterbox(None, *g) for g in geometry]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Mask logits -> float32 probabilities 1 / (1 + exp(-clip(x, -80, 80))),
    computed in float64 and rounded once (the C++ core's, so Python and C++ box
    masks agree bit for bit; near logit 0 it agrees with ONNX Runtime's Sigmoid,
    where a float32 formula flips pixels across the 0.5 threshold)."""
    return _C.sigmoid(np.ascontiguousarray(logits, dtype=np.float32))


def boxes_to_frame(boxes: np.ndarray, geometry: Letterbox, height: int, width: int,
                   clip: bool = True) -> np.ndarray:
    """(K, 4) boxes in network-input pixels -> frame pixels,
    x_frame = (x_net - pad_x) / r, clipped to the frame when ``clip``."""
    boxes = np.ascontiguousarray(boxes, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError("boxes must have shape (K, 4), got {}".format(boxes.shape))
    return _C.boxes_to_frame(boxes, float(geometry.scale), int(geometry.pad_x), int(geometry.pad_y),
                             int(height), int(width), bool(clip))


def select(boxes: np.ndarray, scores: np.ndarray, score_threshold: float = 0.3,
           nms_threshold: float = 0.5, max_instances: int = 100) -> Selection:
    """Per grid cell the best class and its score; keep score >= threshold;
    class-aware NMS (IoU > nms_threshold suppresses the lower score; equal
    scores: the lower cell index wins); the top ``max_instances`` by score.

    ``boxes`` (n, 4) x1, y1, x2, y2 and ``scores`` (n, C), float32."""
    boxes = np.ascontiguousarray(boxes, dtype=np.float32)
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError("boxes must have shape (n, 4), got {}".format(boxes.shape))
    if scores.ndim != 2 or scores.shape[0] != boxes.shape[0]:
        raise ValueError("scores must have shape (n, C) with n = {} (boxes' rows), got {}"
                         .format(boxes.shape[0], scores.shape))
    if isinstance(max_instances, bool) or not isinstance(max_instances, (int, np.integer)):
        raise TypeError("max_instances must be an int, got {!r}".format(max_instances))
    cells, labels, kept = _C.select(boxes, scores, float(score_threshold), float(nms_threshold),
                                    int(max_instances))
    return Selection(cells, labels, kept)


def paste_masks(box_masks: np.ndarray, boxes: np.ndarray, height: int, width: int,
                threshold: float = 0.5) -> np.ndarray:
    """(K, Sm, Sm) box-mask probabilities and (K, 4) frame boxes -> (K, H, W)
    bool: a pixel whose centre lies inside the box samples its box mask
    bilinearly (half-pixel centres, edges clamped) and is in the instance where
    the probability is > ``threshold``."""
    box_masks = np.ascontiguousarray(box_masks, dtype=np.float32)
    boxes = np.ascontiguousarray(boxes, dtype=np.float32)
    if box_masks.ndim != 3 or box_masks.shape[1] != box_masks.shape[2] or box_masks.shape[1] < 1:
        raise ValueError("box_masks must have shape (K, S, S), got {}".format(box_masks.shape))
    if boxes.shape != (box_masks.shape[0], 4):
        raise ValueError("boxes must have shape ({}, 4), got {}".format(box_masks.shape[0], boxes.shape))
    if height < 0 or width < 0:
        raise ValueError("height and width must be >= 0, got {} x {}".format(height, width))
    return _C.paste_masks(box_masks, boxes, int(height), int(width), float(threshold))
