"""``Segmenter``: a frame in, instances out."""

import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import processing
from .backends import Backend, ModelError, open_backend
from .input_mapping import frame_to_uint8_rgb_or_bgr
from .results import Instances
from .tiling import cross_tile_nms, in_core, tile_grid

TileSpec = Union[None, bool, int, Tuple[int, int], Dict[str, int]]


class Segmenter:
    """Runs a FASSST model on frames: letterbox -> frame graph -> select ->
    ROI feature fusion kernel -> tail graph (on the selected instances only)
    -> paste (lazily, when ``Instances.masks`` is read).

    Args:
        path: ``NAME.onnx`` (ONNX Runtime) or ``NAME.plan`` (TensorRT); the
            tail graph and metadata are found beside it. An already opened
            :class:`~fassst_rt.backends.Backend` is accepted too (the PyTorch
            reference model runs this way).
        backend: "auto" (from the suffix) or a registered backend name.
        device: where the backend runs: "auto", "cpu" or "cuda".
        score_threshold, nms_threshold, max_instances: selection; the model's
            metadata gives the defaults.
        tile: tiling for large or crowded frames: None (the model's default),
            False (never), an int tile size, (size, overlap) or
            {"size": ..., "overlap": ...}. Tiles are only used when the frame
            is larger than a tile.
        channel_order: "bgr" (OpenCV's order, the default) or "rgb" frames.
        num_threads: CPU threads of the backend (None: its default).

    Frames: (H, W, 3) uint8 in ``channel_order``; (H, W) or (H, W, 1) grey
    and (H, W, 4) frames (alpha dropped) are accepted too, and single-channel
    uint16 frames when the model defines a 16-bit mapping.

    Threads: one Segmenter may be shared by several threads; its calls are
    serialised by a lock (results are the same as sequential calls). For
    throughput on several cores, give each thread its own Segmenter.
    """

    def __init__(self, path: Union[str, Backend], backend: str = "auto", device: str = "auto",
                 score_threshold: Optional[float] = None, nms_threshold: Optional[float] = None,
                 max_instances: Optional[int] = None, tile: TileSpec = None,
                 channel_order: str = "bgr", num_threads: Optional[int] = None) -> None:
        if channel_order not in ("bgr", "rgb"):
            raise ValueError("channel_order must be 'bgr' or 'rgb', got {!r}".format(channel_order))
        if isinstance(path, Backend):
            self._backend = path  # type: Optional[Backend]
        else:
            options = {"device": device}  # type: Dict[str, object]
            if num_threads is not None:
                options["num_threads"] = num_threads
            self._backend = open_backend(path, backend, **options)
        m = self._backend.metadata
        self.metadata = m
        self.path = str(path)
        self.score_threshold = m.score_threshold if score_threshold is None else float(score_threshold)
        self.nms_threshold = m.nms_threshold if nms_threshold is None else float(nms_threshold)
        self.max_instances = m.max_instances if max_instances is None else int(max_instances)
        self.tile = self._tile_spec(tile, m.tile)
        self.channel_order = channel_order
        self._lock = threading.Lock()

    # ------------------------------------------------------------- settings

    @staticmethod
    def _tile_spec(tile: TileSpec, default) -> Optional[Tuple[int, int]]:
        if tile is None:
            tile = default
        if tile is None or tile is False:
            return None
        if isinstance(tile, bool):
            raise ValueError("tile=True needs a size: pass an int, (size, overlap) or a dict")
        if isinstance(tile, dict):
            size, overlap = tile.get("size"), tile.get("overlap", 0)
        elif isinstance(tile, (int, np.integer)):
            size, overlap = int(tile), int(tile) // 4
        elif isinstance(tile, (tuple, list)) and len(tile) == 2:
            size, overlap = tile
        else:
            raise ValueError("tile must be None, False, an int, (size, overlap) or a dict, got {!r}".format(tile))
        if not isinstance(size, (int, np.integer)) or size < 32 or not 0 <= overlap < size:
            raise ValueError("tile size must be an int >= 32 and 0 <= overlap < size, got size {!r} overlap {!r}"
                             .format(size, overlap))
        return int(size), int(overlap)

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise RuntimeError("this Segmenter is closed")
        return self._backend

    @property
    def names(self) -> List[str]:
        return list(self.metadata.class_names)

    # ------------------------------------------------------------------ run

    def run(self, frame: np.ndarray, tile: TileSpec = None) -> Instances:
        """Segments one frame. ``tile`` overrides the Segmenter's tiling."""
        spec = self.tile if tile is None else self._tile_spec(tile, None)
        image = frame_to_uint8_rgb_or_bgr(frame, self.metadata.uint16_mapping)
        with self._lock:
            h, w = image.shape[:2]
            if spec is not None and (h > spec[0] or w > spec[0]):
                return self._run_tiled(image, spec)
            return self._segment([image])[0]

    def run_batch(self, frames: Sequence[np.ndarray]) -> List[Instances]:
        """Segments several frames with one frame-graph call and one tail call
        (no tiling)."""
        images = [frame_to_uint8_rgb_or_bgr(f, self.metadata.uint16_mapping, "frames[{}]".format(i))
                  for i, f in enumerate(frames)]
        if not images:
            return []
        with self._lock:
            return self._segment(images)

    def warmup(self, runs: int = 2) -> None:
        """Runs a few grey frames through both graphs (first calls allocate)."""
        size = self.metadata.input_size
        frame = np.full((size, size, 3), 114, np.uint8)
        with self._lock:
            for _ in range(runs):
                self._segment([frame], force_tail=True)

    def close(self) -> None:
        """Releases the backend. The Segmenter cannot run afterwards."""
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

    def __enter__(self) -> "Segmenter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------- pipeline

    def _segment(self, images: List[np.ndarray], force_tail: bool = False) -> List[Instances]:
        backend, m = self.backend, self.metadata
        timings = {}
        t0 = time.perf_counter()
        # to_network_input(bgr=True) swaps the channels: needed when the frames'
        # order differs from the one the model was trained on (metadata)
        swap = self.channel_order != m.channel_order
        letterboxes = [processing.letterbox(img, m.input_size) for img in images]
        batch = np.concatenate([processing.to_network_input(lb.image, m.mean, m.std, bgr=swap)
                                for lb in letterboxes])
        t1 = time.perf_counter()
        frame = backend.run_frame(batch)
        self._check_frame_outputs(frame, len(images))
        t2 = time.perf_counter()
        selections = [processing.select(frame.boxes[b], frame.scores[b], self.score_threshold,
                                         self.nms_threshold, self.max_instances)
                      for b in range(len(images))]
        rois = np.concatenate([
            np.concatenate([np.full((len(s.cells), 1), b, np.float32), frame.boxes[b][s.cells]], axis=1)
            for b, s in enumerate(selections)]).astype(np.float32).reshape(-1, 5)
        t3 = time.perf_counter()
        if force_tail and len(rois) == 0:  # warm-up: exercise the tail with one box
            s = float(m.input_size)
            rois = np.array([[0, 0, 0, s / 2, s / 2]], np.float32)
        if len(rois):
            logits = backend.fuse_and_tail(frame, rois)
            box_masks = processing.sigmoid(np.asarray(logits, np.float32)[:, 0])
        else:
            box_masks = np.zeros((0, 2 * m.roi_size, 2 * m.roi_size), np.float32)
        t4 = time.perf_counter()
        timings.update(preprocess=(t1 - t0) * 1e3, frame=(t2 - t1) * 1e3, select=(t3 - t2) * 1e3,
                       rff_tail=(t4 - t3) * 1e3)

        results = []
        start = 0
        for b, (img, lb, s) in enumerate(zip(images, letterboxes, selections)):
            k = len(s.cells)
            net_boxes = rois[start:start + k, 1:]
            h, w = img.shape[:2]
            results.append(Instances(
                boxes=processing.boxes_to_frame(net_boxes, lb, h, w, clip=True),
                scores=s.scores, labels=s.labels, names=m.class_names,
                box_masks=box_masks[start:start + k],
                mask_boxes=processing.boxes_to_frame(net_boxes, lb, h, w, clip=False),
                image_size=(h, w), timings=timings))
            start += k
        return results

    def _check_frame_outputs(self, frame, batch: int) -> None:
        """Graph outputs must agree with the metadata (symbolic dimensions in a
        graph can only be checked once it has run)."""
        m = self.metadata
        expected = {"boxes": (batch, m.num_cells, 4), "scores": (batch, m.num_cells, m.num_classes)}
        for name, shape in expected.items():
            got = tuple(np.shape(getattr(frame, name)))
            if got != shape:
                raise ModelError("{}: the frame graph's '{}' has shape {}, but the metadata says {}"
                                 .format(self.path, name, got, shape))
        channels = tuple(getattr(frame.p1, "shape", ()))[1:2]
        if channels != (m.mask_channels,):
            raise ModelError("{}: p1 has {} channels, the metadata says mask_channels = {}"
                             .format(self.path, channels, m.mask_channels))

    def _run_tiled(self, image: np.ndarray, spec: Tuple[int, int]) -> Instances:
        h, w = image.shape[:2]
        tiles = tile_grid(h, w, spec[0], spec[1])
        crops = [image[t.y0:t.y1, t.x0:t.x1] for t in tiles]
        per_tile = self._segment(crops)
        parts = {"boxes": [], "mask_boxes": [], "scores": [], "labels": [], "box_masks": []}
        for tile, inst in zip(tiles, per_tile):
            offset = np.array([tile.x0, tile.y0, tile.x0, tile.y0], np.float32)
            boxes = inst.boxes + offset
            keep = in_core(boxes, tile)
            parts["boxes"].append(boxes[keep])
            parts["mask_boxes"].append(inst.mask_boxes[keep] + offset)
            parts["scores"].append(inst.scores[keep])
            parts["labels"].append(inst.labels[keep])
            parts["box_masks"].append(inst.box_masks[keep])
        merged = {k: np.concatenate(v) for k, v in parts.items()}
        # Objects seen by two tiles whose centres fell in both cores: one NMS
        # pass over everything, with the selection's own NMS (C++ core).
        kept = cross_tile_nms(merged["boxes"], merged["labels"], merged["scores"],
                              self.metadata.num_classes, self.nms_threshold)
        timings = dict(per_tile[0].timings)  # the tiles ran as one batch
        timings["tiles"] = float(len(tiles))
        return Instances(boxes=merged["boxes"][kept], scores=merged["scores"][kept],
                         labels=merged["labels"][kept], names=self.metadata.class_names,
                         box_masks=merged["box_masks"][kept], mask_boxes=merged["mask_boxes"][kept],
                         image_size=(h, w), timings=timings)
