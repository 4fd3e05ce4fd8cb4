"""Calibration data: real frames, turned into exactly what each graph sees at
run time.

- Frames come from a folder of images, a COCO annotation file (its images) or
  a video, at most ``max_frames`` of them, spread evenly over the source.
- Frame graph: each frame is cut into the tiles the runtime would cut it into
  (the model's default tiling, when the frame is larger than a tile) and
  preprocessed by the runtime's own ``Segmenter.preprocess`` (letterbox,
  channel order, 16-bit mapping, normalisation).
- Tail graph: the ROI features the runtime would feed it: the float model's
  frame graph on those inputs, the runtime's selection (``Segmenter.select``)
  and the ROI feature fusion kernel (``ops.roi_fuse``, or ``ops.roi_crop``
  for a model without RFF).

Calibration must not see evaluation frames: pass training frames.
"""

import json
import os
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence

import numpy as np

from .. import ops
from ..model_files import FRAME_INPUT, TAIL_INPUT
from ..opencv_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from ..processing import PAD_VALUE

Progress = Callable[[Sequence[Any], str], Sequence[Any]]


class CalibrationFrames(NamedTuple):
    frames: List[np.ndarray]
    names: List[str]     # where each came from (file name or "VIDEO#frame")
    source: str          # what --calib named
    kind: str            # "images", "coco" or "video"


def spread_evenly(items: Sequence[Any], count: int) -> List[Any]:
    """At most ``count`` items spread evenly over ``items`` (first and last kept)."""
    if len(items) <= count:
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def _coco_images(path: str) -> List[str]:
    with open(path, "r", encoding="utf-8") as f:
        try:
            doc = json.load(f)
        except ValueError as exc:
            raise ValueError("--calib {}: not a JSON file ({})".format(path, exc)) from None
    images = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(images, list) or not images:
        raise ValueError("--calib {}: a COCO file must hold a non-empty 'images' list".format(path))
    folder = os.path.dirname(os.path.abspath(path))
    names = []
    for image in sorted(images, key=lambda im: im.get("id", 0)):
        name = image.get("file_name") if isinstance(image, dict) else None
        if not isinstance(name, str):
            raise ValueError("--calib {}: every image needs a 'file_name', got {!r}".format(path, image))
        names.append(os.path.join(folder, name))
    return names


def _video_frames(path: str, max_frames: int) -> CalibrationFrames:
    import cv2  # opencv_io.open_video checks it opens

    from ..opencv_io import open_video

    capture = open_video(path)
    try:
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        wanted = set(spread_evenly(list(range(total)), max_frames)) if total > 0 else None
        frames, names = [], []  # type: List[np.ndarray], List[str]
        index = 0
        while len(frames) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if wanted is None or index in wanted:
                frames.append(frame)
                names.append("{}#{}".format(os.path.basename(path), index))
            index += 1
    finally:
        capture.release()
    if not frames:
        raise ValueError("--calib {}: the video has no readable frame".format(path))
    return CalibrationFrames(frames, names, path, "video")


def load_frames(source: str, max_frames: int = 24) -> CalibrationFrames:
    """Up to ``max_frames`` frames from a folder of images, a COCO file
    (.json) or a video file."""
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise ValueError("--frames must be an integer >= 1, got {!r}".format(max_frames))
    source = os.fspath(source)
    if os.path.isdir(source):
        files = sorted(os.path.join(source, n) for n in os.listdir(source)
                       if n.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise ValueError("--calib {}: the folder holds no image ({})".format(
                source, ", ".join(IMAGE_SUFFIXES)))
        kind = "images"
    elif not os.path.isfile(source):
        raise FileNotFoundError("--calib {}: no such file or folder (expected a folder of images, a COCO "
                                ".json file or a video)".format(source))
    elif source.lower().endswith(".json"):
        files, kind = _coco_images(source), "coco"
    elif source.lower().endswith(VIDEO_SUFFIXES):
        return _video_frames(source, max_frames)
    else:
        raise ValueError("--calib {}: expected a folder of images, a COCO .json file or a video ({}), got "
                         "a file of another kind".format(source, ", ".join(VIDEO_SUFFIXES)))
    files = spread_evenly(files, max_frames)
    return CalibrationFrames([read_image(f) for f in files], [os.path.basename(f) for f in files], source, kind)


def network_inputs(segmenter, frames: Sequence[np.ndarray]) -> np.ndarray:
    """(N, 3, S, S) float32: the frame graph's inputs for ``frames``, tiled
    as the runtime tiles them by default, preprocessed by the runtime. For a
    stride-grid model, (N, 3, H, W): one whole-frame input per frame, as the
    runtime scales and pads it, padded further to the largest frame's shape
    with the runtime's own pad value (the calibrator takes one shape)."""
    from ..tiling import tile_grid

    if segmenter.metadata.grid is not None:
        return _whole_frame_inputs(segmenter, frames)
    tile = segmenter.tile
    batches = []
    for frame in frames:
        height, width = frame.shape[:2]
        if tile is not None and (height > tile[0] or width > tile[0]):
            crops = [np.ascontiguousarray(frame[t.y0:t.y1, t.x0:t.x1])
                     for t in tile_grid(height, width, tile[0], tile[1])]
        else:
            crops = [frame]
        batches.append(segmenter.preprocess(crops)[0])
    return np.concatenate(batches, axis=0)


def _whole_frame_inputs(segmenter, frames: Sequence[np.ndarray]) -> np.ndarray:
    inputs = [segmenter.preprocess([frame])[0] for frame in frames]
    # A grey frame at the pad value preprocesses to the normalised pad value:
    # the runtime's own normalisation, not a second copy of it here.
    pad_frame = np.full((8, 8, 3), PAD_VALUE, np.uint8)
    pad = segmenter.preprocess([pad_frame])[0][0, :, 0, 0]
    height = max(x.shape[2] for x in inputs)
    width = max(x.shape[3] for x in inputs)
    batch = np.empty((len(inputs), 3, height, width), np.float32)
    batch[...] = pad[None, :, None, None]
    for i, x in enumerate(inputs):
        batch[i, :, :x.shape[2], :x.shape[3]] = x[0]
    return batch


def tail_inputs(segmenter, images: np.ndarray, max_rois: int, batch: int = 8,
                progress: Optional[Progress] = None) -> np.ndarray:
    """(K, M, S1, S1) float32: the fused ROI features the runtime would feed
    the tail for the network inputs ``images``, at most ``max_rois`` of them
    spread evenly over all that the selection keeps."""
    backend, m = segmenter.backend, segmenter.metadata
    if m.grid is not None:
        batch = 1   # whole frames: one at a time, as the runtime runs them
    starts = list(range(0, len(images), batch))
    features = []  # type: List[np.ndarray]
    for start in (progress(starts, "tail inputs") if progress else starts):
        chunk = images[start:start + batch]
        out = backend.run_frame(chunk)
        _, rois = segmenter.select(np.asarray(out.boxes), np.asarray(out.scores))
        if len(rois) == 0:
            continue
        if m.rff:
            fused = ops.roi_fuse(out.p1, out.p2, out.p3, rois, m.roi_size, tuple(m.strides))
        else:
            fused = ops.roi_crop(out.p1, rois, m.roi_size, m.strides[0])
        features.append(np.asarray(fused, dtype=np.float32))
    if not features:
        raise ValueError("the model selects no instance on any calibration frame (score threshold {}): "
                         "the tail cannot be calibrated; calibrate on frames that hold objects".format(
                             segmenter.score_threshold))
    everything = np.concatenate(features, axis=0)
    keep = spread_evenly(list(range(len(everything))), max_rois)
    return everything[keep]


class ArrayReader:
    """ONNX Runtime's CalibrationDataReader over one array, in batches."""

    def __init__(self, name: str, data: np.ndarray, batch: int, progress: Optional[Progress] = None,
                 what: str = "") -> None:
        self.name = name
        # Whole batches only (the remainder left out when there is more than
        # one batch): ONNX Runtime's histogram calibrators stack the batches'
        # tensors and fail on a shorter last one.
        self.data = data[:len(data) - len(data) % batch] if len(data) > batch else data
        self.batch = batch
        starts = list(range(0, len(self.data), batch))
        self._starts = iter(progress(starts, what) if progress else starts)  # type: Iterator[int]

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        start = next(self._starts, None)
        if start is None:
            return None
        return {self.name: np.ascontiguousarray(self.data[start:start + self.batch])}


def frame_reader(images: np.ndarray, progress: Optional[Progress] = None, batch: int = 8) -> ArrayReader:
    return ArrayReader(FRAME_INPUT, images, batch, progress, "calibrating the frame graph")


def tail_reader(features: np.ndarray, progress: Optional[Progress] = None) -> ArrayReader:
    return ArrayReader(TAIL_INPUT, features, 64, progress, "calibrating the tail graph")
