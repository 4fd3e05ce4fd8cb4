"""The result of segmenting one frame: :class:`Instances`."""

import json
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import _C, processing



def tight_box(mask: np.ndarray):
    """(x1, y1, x2, y2) of an (H, W) mask's pixels on pixel edges (the one
    pixel (x, y) gives x, y, x + 1, y + 1); None when the mask is empty."""
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(ys) == 0:
        return None
    return (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)

class Instances:
    """Instances found in one frame.

    Attributes:
        boxes: (K, 4) float32 x1, y1, x2, y2 in frame pixels, clipped to the frame.
        scores: (K,) float32 class probabilities.
        labels: (K,) int64 0-based indices into ``names``.
        names: class names of the model.
        box_masks: (K, Sm, Sm) float32 mask probabilities over each instance's
            ``mask_boxes`` (the unclipped box the network predicted).
        mask_boxes: (K, 4) float32 the boxes ``box_masks`` cover, in frame pixels.
        image_size: (H, W) of the frame.
        timings: per-stage wall time in milliseconds (preprocess, frame, select,
            rff, tail; paste once ``masks`` has been computed).
        track_ids: (K,) int64 identities across a stream's frames, set by a
            tracker (:class:`fassst_rt.tracking.Tracker`); -1 for an instance
            without a confirmed track; None until tracked.
    """

    def __init__(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                 names: Sequence[str], box_masks: np.ndarray, mask_boxes: np.ndarray,
                 image_size: Sequence[int], timings: Optional[Dict[str, float]] = None,
                 mask_threshold: float = 0.5) -> None:
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(scores, np.float32).reshape(-1)
        self.labels = np.asarray(labels, np.int64).reshape(-1)
        self.names = list(names)
        self.box_masks = np.asarray(box_masks, np.float32)
        self.mask_boxes = np.asarray(mask_boxes, np.float32).reshape(-1, 4)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.timings = dict(timings or {})
        self.mask_threshold = float(mask_threshold)
        self._masks = None  # type: Optional[np.ndarray]
        self.track_ids = None  # type: Optional[np.ndarray]
        k = len(self.boxes)
        if not (len(self.scores) == len(self.labels) == len(self.mask_boxes) == k
                and self.box_masks.shape[:1] == (k,)):
            raise ValueError("Instances: boxes, scores, labels, box_masks and mask_boxes must "
                             "describe the same K instances")

    def __len__(self) -> int:
        return len(self.boxes)

    def __repr__(self) -> str:
        return "Instances({} in a {}x{} frame: {})".format(
            len(self), self.image_size[1], self.image_size[0],
            ", ".join("{} {:.2f}".format(self.names[l], s) for l, s in zip(self.labels, self.scores)))

    @property
    def masks(self) -> np.ndarray:
        """(K, H, W) bool full-frame masks, pasted on first use."""
        if self._masks is None:
            import time
            t0 = time.perf_counter()
            self._masks = processing.paste_masks(self.box_masks, self.mask_boxes, self.image_size[0],
                                                 self.image_size[1], self.mask_threshold)
            self.timings["paste"] = (time.perf_counter() - t0) * 1e3
        return self._masks

    def boxes_from_masks(self) -> np.ndarray:
        """(K, 4) float32 x1, y1, x2, y2: the tight box of each pasted mask, on
        pixel edges (a mask of the one pixel (x, y) gives x, y, x + 1, y + 1);
        an instance whose mask is empty keeps its ``boxes`` row. Tighter than
        the regressed boxes on dense frames (docs/results/dense.md)."""
        out = self.boxes.copy()
        for i in range(len(self)):  # one full-frame mask at a time (the memory budget's rule)
            box = tight_box(self.mask(i))
            if box is not None:
                out[i] = box
        return out

    def mask(self, i: int) -> np.ndarray:
        """(H, W) bool full-frame mask of instance ``i`` alone (no other
        instance's mask is made; ``masks`` makes all K at once)."""
        if self._masks is not None:
            return self._masks[i]
        if not -len(self) <= i < len(self):
            raise IndexError("instance index must be in [0, {}), got {}".format(len(self), i))
        i = i % len(self)
        return processing.paste_masks(self.box_masks[i:i + 1], self.mask_boxes[i:i + 1], self.image_size[0],
                                      self.image_size[1], self.mask_threshold)[0]

    def label_image(self) -> np.ndarray:
        """(H, W) int32: 0 background, i + 1 where instance i holds the pixel
        (the higher score wins an overlap). For dense frames: one map whose
        memory does not grow with the instance count, unlike ``masks``."""
        box_masks = np.ascontiguousarray(self.box_masks, np.float32).reshape(len(self), *self.box_masks.shape[1:])
        if len(self) == 0:
            box_masks = np.zeros((0, 1, 1), np.float32)
        return _C.label_image(box_masks, np.ascontiguousarray(self.mask_boxes, np.float32), self.image_size[0],
                              self.image_size[1], self.mask_threshold)

    @property
    def class_names(self) -> List[str]:
        """The name of each instance's label."""
        return [self.names[l] for l in self.labels]

    def numpy(self) -> Dict[str, np.ndarray]:
        """Plain arrays: boxes, scores, labels, masks."""
        return {"boxes": self.boxes, "scores": self.scores, "labels": self.labels, "masks": self.masks}

    def rle(self) -> List[Dict[str, Any]]:
        """COCO run-length encodings of the masks (column-major, uncompressed
        counts, the ``{"size": [H, W], "counts": [...]}`` form pycocotools reads)."""
        out = []
        for i in range(len(self)):
            mask = self.mask(i)
            flat = np.asfortranarray(mask).reshape(-1, order="F").astype(np.uint8)
            change = np.flatnonzero(np.diff(flat)) + 1
            bounds = np.concatenate([[0], change, [flat.size]])
            counts = np.diff(bounds).tolist()
            if flat.size and flat[0] == 1:
                counts = [0] + counts
            out.append({"size": [self.image_size[0], self.image_size[1]], "counts": counts})
        return out

    def to_json(self, with_masks: bool = True) -> str:
        """JSON: one object per instance (label, name, score, box, COCO RLE)."""
        masks = self.rle() if with_masks else [None] * len(self)
        items = []
        for i in range(len(self)):
            item = {"label": int(self.labels[i]), "name": self.names[self.labels[i]],
                    "score": float(self.scores[i]), "box": [float(v) for v in self.boxes[i]]}
            if with_masks:
                item["rle"] = masks[i]
            items.append(item)
        return json.dumps({"image_size": list(self.image_size), "instances": items,
                           "timings_ms": self.timings})

    def plot(self, image: np.ndarray, alpha: float = 0.5) -> np.ndarray:
        """An overlay: masks tinted per instance, boxes outlined, on a copy of
        ``image`` (H, W, 3) uint8 (any channel order; colours are symmetric).
        Tracked instances (``track_ids`` set) get one colour per id, the same
        in every frame; those without a confirmed id are grey."""
        if not isinstance(image, np.ndarray) or image.shape[:2] != self.image_size:
            raise ValueError("plot: image must be the (H, W, ...) frame these instances came from, "
                             "{}x{}".format(*self.image_size))
        canvas = np.array(image, dtype=np.uint8, copy=True)
        if canvas.ndim == 2:
            canvas = np.repeat(canvas[:, :, None], 3, axis=2)
        canvas = np.ascontiguousarray(canvas[:, :, :3])
        colours = _palette(len(self)) if self.track_ids is None else _id_colours(self.track_ids)
        for i, colour in enumerate(colours):
            mask = self.mask(i)  # one full-frame mask at a time
            region = canvas[mask].astype(np.float32)
            canvas[mask] = (region * (1 - alpha) + colour * alpha).astype(np.uint8)
        h, w = self.image_size
        for box, colour in zip(self.boxes, colours):
            x1, y1, x2, y2 = [int(round(v)) for v in box]
            x1, x2 = np.clip([x1, x2 - 1], 0, w - 1)
            y1, y2 = np.clip([y1, y2 - 1], 0, h - 1)
            canvas[y1, x1:x2 + 1] = colour
            canvas[y2, x1:x2 + 1] = colour
            canvas[y1:y2 + 1, x1] = colour
            canvas[y1:y2 + 1, x2] = colour
        return canvas


# instances without a confirmed track id
_UNTRACKED_COLOUR = np.array([160.0, 160.0, 160.0], np.float32)


def _id_colours(track_ids: np.ndarray) -> np.ndarray:
    """A colour per instance from its track id: the id's own palette entry,
    grey where the id is negative."""
    ids = np.asarray(track_ids, dtype=np.int64).reshape(-1)
    colours = _hue_colours(np.maximum(ids, 0))
    colours[ids < 0] = _UNTRACKED_COLOUR
    return colours


def _palette(n: int) -> np.ndarray:
    """n distinct, saturated colours (golden-angle hues)."""
    return _hue_colours(np.arange(n))


def _hue_colours(indices: np.ndarray) -> np.ndarray:
    """The saturated colour of golden-angle hue number i, for each i of ``indices``."""
    n = len(indices)
    hues = (indices * 0.618033988749895) % 1.0
    h6 = hues * 6
    x = 1 - np.abs(h6 % 2 - 1)
    sector = h6.astype(int) % 6
    rgb = np.zeros((n, 3))
    table = [(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1), (1, 0, x)]
    for i in range(n):
        rgb[i] = [c[i] if isinstance(c, np.ndarray) else c for c in table[sector[i]]]
    return (rgb * 255).astype(np.float32)
