"""``Segmenter``: a frame in, instances out.

The pipeline itself is the C++ core's ``fassst::Segmenter`` (the same code a
C++ application runs); this class binds it and plugs in a Python backend.
"""

import weakref
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _C
from .backends import Backend, open_backend
from .processing import Letterbox, Selection
from .results import Instances

TileSpec = Union[None, bool, int, Tuple[int, int], Dict[str, int]]

# how a call tiles, as the core reads it (fassst::Tiling)
_TILE_DEFAULT, _TILE_OFF, _TILE_ON = 0, 1, 2


def _tile_arguments(tile: TileSpec) -> Tuple[int, int, int]:
    """``tile`` as (mode, size, overlap); the core checks the numbers."""
    if tile is None:
        return _TILE_DEFAULT, 0, -1
    if tile is False:
        return _TILE_OFF, 0, -1
    if isinstance(tile, bool):
        raise ValueError("tile=True needs a size: pass an int, (size, overlap) or a dict")
    if isinstance(tile, dict):
        size, overlap = tile.get("size"), tile.get("overlap", -1)
    elif isinstance(tile, (int, np.integer)):
        size, overlap = tile, -1
    elif isinstance(tile, (tuple, list)) and len(tile) == 2:
        size, overlap = tile
    else:
        raise ValueError("tile must be None, False, an int, (size, overlap) or a dict, got {!r}".format(tile))
    for name, value in (("size", size), ("overlap", overlap)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError("tile {} must be an int, got {!r}".format(name, value))
    return _TILE_ON, int(size), int(overlap)


class Segmenter:
    """Runs a FASSST model on frames: letterbox -> frame graph -> select ->
    ROI feature fusion kernel -> tail graph (on the selected instances only)
    -> paste (lazily, when ``Instances.masks`` is read).

    Args:
        path: ``NAME.onnx`` (ONNX Runtime) or ``NAME.plan`` (TensorRT); the
            tail graph and metadata are found beside it. An already opened
            :class:`~fassst_rt.backends.Backend` is accepted too (the PyTorch
            reference model runs this way); the Segmenter then owns it.
        backend: "auto" (from the suffix) or a registered backend name.
        device: where the backend runs: "auto", "cpu" or "cuda".
        score_threshold, nms_threshold, max_instances: selection; the model's
            metadata gives the defaults.
        tile: tiling for large or crowded frames: None (the model's default),
            False (never), an int tile size (overlap size // 4), (size, overlap)
            or {"size": ..., "overlap": ...}. Tiles are only used when the
            frame is larger than a tile.
        channel_order: "bgr" (OpenCV's order, the default) or "rgb" frames.
        num_threads: CPU threads of the backend and the core (None: all cores).
        max_batch: tiles per frame-graph call; a frame with more tiles runs in
            several calls, which bounds the memory a call holds.
        memory_budget_mib: the working set a frame may make the pipeline hold
            beyond the model (its 3-channel copy, one frame-graph call, one
            tail call, its results). Calls shrink to fit; a frame that cannot
            fit raises MemoryError before anything is allocated.

    Frames: (H, W, 3) uint8 in ``channel_order``; (H, W) or (H, W, 1) grey
    and (H, W, 4) frames (alpha dropped) are accepted too, and single-channel
    uint16 frames when the model defines a 16-bit mapping.

    Threads: one Segmenter may be shared by several threads; its calls are
    serialised inside the core (results are the same as sequential calls), and
    the GIL is released while the core works. For throughput on several cores,
    give each thread its own Segmenter.
    """

    def __init__(self, path: Union[str, Backend], backend: str = "auto", device: str = "auto",
                 score_threshold: Optional[float] = None, nms_threshold: Optional[float] = None,
                 max_instances: Optional[int] = None, tile: TileSpec = None,
                 channel_order: str = "bgr", num_threads: Optional[int] = None, max_batch: int = 16,
                 memory_budget_mib: int = 1024) -> None:
        if channel_order not in ("bgr", "rgb"):
            raise ValueError("channel_order must be 'bgr' or 'rgb', got {!r}".format(channel_order))
        for name, value in (("num_threads", num_threads), ("max_instances", max_instances),
                            ("max_batch", max_batch), ("memory_budget_mib", memory_budget_mib)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
                raise TypeError("{} must be an int, got {!r}".format(name, value))
        if num_threads is not None and num_threads < 1:
            raise ValueError("num_threads must be >= 1 or None, got {}".format(num_threads))
        tile_arguments = _tile_arguments(tile)
        if isinstance(path, Backend):
            opened = path
        else:
            options = {"device": device}  # type: Dict[str, object]
            if num_threads is not None:
                options["num_threads"] = num_threads
            opened = open_backend(path, backend, **options)
        self.metadata = opened.metadata
        self.path = str(getattr(opened, "path", path))
        self.channel_order = channel_order
        self._backend = opened  # type: Optional[Backend]
        self._streams = weakref.WeakSet()  # type: weakref.WeakSet
        try:
            self._core = _C.Segmenter(opened, self.metadata.to_json(), self.path, score_threshold, nms_threshold,
                                      max_instances, *tile_arguments, int(num_threads or 0), int(max_batch),
                                      int(memory_budget_mib))
        except BaseException:
            opened.close()
            raise

    # ------------------------------------------------------------- settings

    # Selection settings: readable, and settable between calls (the core
    # validates them as at construction).
    @property
    def score_threshold(self) -> float:
        return self._core.score_threshold

    @score_threshold.setter
    def score_threshold(self, value: float) -> None:
        self._core.score_threshold = float(value)

    @property
    def nms_threshold(self) -> float:
        return self._core.nms_threshold

    @nms_threshold.setter
    def nms_threshold(self, value: float) -> None:
        self._core.nms_threshold = float(value)

    @property
    def max_instances(self) -> int:
        return self._core.max_instances

    @max_instances.setter
    def max_instances(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError("max_instances must be an int, got {!r}".format(value))
        self._core.max_instances = int(value)

    @property
    def tile(self) -> Optional[Tuple[int, int]]:
        """(size, overlap) of the tiling in effect, None when off."""
        size = self._core.tile_size
        return (size, self._core.tile_overlap) if size else None

    @property
    def max_batch(self) -> int:
        return self._core.max_batch

    @property
    def memory_budget_mib(self) -> int:
        return self._core.memory_budget_mib

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
        return self._instances(self._core.run(frame, self.channel_order, *_tile_arguments(tile)))

    def run_batch(self, frames: Sequence[np.ndarray]) -> List[Instances]:
        """Segments several frames together (no tiling): frame-graph calls of
        up to ``max_batch`` frames, one tail pass per call."""
        return [self._instances(d) for d in self._core.run_batch(list(frames), self.channel_order)]

    def warmup(self, runs: int = 2) -> None:
        """Runs a few grey frames through both graphs (first calls allocate)."""
        self._core.warmup(int(runs))

    def preprocess(self, frames: Sequence[np.ndarray]) -> Tuple[np.ndarray, List[Letterbox]]:
        """The pipeline's first step alone: frames -> the (B, 3, S, S) float32
        network input and each frame's letterbox geometry (its ``image`` is
        None: the canvas is not kept)."""
        batch, geometry = self._core.preprocess(list(frames), self.channel_order)
        return batch, [Letterbox(None, *g) for g in geometry]

    def select(self, boxes: np.ndarray, scores: np.ndarray) -> Tuple[List[Selection], np.ndarray]:
        """The selection alone on frame-graph outputs ``boxes`` (B, n, 4) and
        ``scores`` (B, n, C), with this Segmenter's thresholds: the instances
        kept per image and the (K, 5) rows [batch_index, x1, y1, x2, y2] the
        ROI feature fusion takes."""
        per_image, rois = self._core.select(boxes, scores)
        return [Selection(*s) for s in per_image], rois

    def stream(self, source, mode: str = "throughput", queue_size: int = 4, track=False,
               reader: str = "opencv", overlap: bool = True) -> "Stream":
        """Segments a stream of frames with the pipeline's steps overlapped on
        threads (the C++ core's ``fassst::Stream``): iterate over it for one
        :class:`StreamResult` per frame.

        ``source``: a folder, an image or video file, a camera index or
        ``/dev/videoN``, an ``rtsp://`` / ``http://`` URL, ``gst:PIPELINE``, an
        iterable of frames, or an object with ``read()``
        (:mod:`fassst_rt.sources`). A list of such sources (paths, URLs,
        camera indices, source objects; not of frames) streams several at
        once: each step batches one frame of each into the same frame-graph
        calls, each source has its own tracker, and ``result.source_index``
        says which source a result is from (a step's results in source
        order; a source that ends drops out, the others go on; a source's
        error ends the stream). ``mode``: "throughput" (every frame, in
        order, each result equal to ``run``'s; with several sources a step
        waits for a frame of each) or "latency" (a live source's newest frame
        first, stale ones dropped and counted; a step takes the frames that
        are ready). While a stream runs, this Segmenter's ``run`` is refused;
        the stream ends when its sources do, on ``close()``, or when it is
        left (``with`` or ``break`` + garbage collection).

        ``track``: False, True (a tracker with the default options) or a
        :class:`fassst_rt.tracking.Tracker` whose options to use: each result's
        ``instances.track_ids`` then holds identities stable across the
        stream's frames (the core's tracker, one per source). ``reader``:
        what decodes video files, cameras and URLs, "opencv" or "pyav"
        (the optional ``av`` package). ``overlap``: one frame's graph runs
        while the frame before it is finished (more frames per second where
        cores are to spare); False: one step at a time, the next frame taken
        once the previous results are out (the lower latency where the
        backend already uses every core)."""
        from .sources import open_sources
        from .tracking import Tracker
        if isinstance(queue_size, bool) or not isinstance(queue_size, (int, np.integer)):
            raise TypeError("queue_size must be an int, got {!r}".format(queue_size))
        if track is True:
            track = Tracker()
        if track is not False and not isinstance(track, Tracker):
            raise TypeError("track must be True, False or a fassst_rt.tracking.Tracker, got {!r}".format(track))
        tracker = track._core if track is not False else None
        sources = open_sources(source, reader)
        if not isinstance(overlap, bool):
            raise TypeError("overlap must be True or False, got {!r}".format(overlap))
        core = _C.Stream(self._core, sources, self.channel_order, mode, int(queue_size), tracker, overlap)
        stream = Stream(self, core, tracked=tracker is not None)
        self._streams.add(stream)
        return stream

    def _instances(self, parts: dict) -> Instances:
        track_ids = parts.pop("track_ids", None)
        instances = Instances(names=self.metadata.class_names, **parts)
        instances.track_ids = track_ids
        return instances

    def close(self) -> None:
        """Stops its streams and releases the backend (after a call in
        progress). The Segmenter cannot run afterwards."""
        for stream in list(self._streams):
            stream.close()
        self._core.close()
        self._backend = None

    def __enter__(self) -> "Segmenter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StreamResult(NamedTuple):
    """One frame of a stream."""

    source: str
    frame: int             # the frame's index in the source (dropped frames counted)
    timestamp: float       # its capture time, seconds
    instances: Instances
    latency_ms: float      # from its arrival to this result
    dropped: int           # frames dropped since the previous result of its source (latency mode)
    image: Optional[np.ndarray] = None  # the frame itself, as the source read it (for overlays)
    source_index: int = 0  # which of the stream's sources (several cameras); 0 for a single source


class Stream:
    """Results of ``Segmenter.stream``, one per frame; iterate, or ``next(stream)``.
    An error of any step ends the stream and is raised here."""

    def __init__(self, segmenter: Segmenter, core, tracked: bool = False) -> None:
        self._segmenter = segmenter
        self._core = core
        self._tracked = tracked

    def __iter__(self) -> Iterator[StreamResult]:
        return self

    def __next__(self) -> StreamResult:
        if self._core is None:
            raise StopIteration
        try:
            # short waits: between them Python sees its signals (Ctrl-C on a stalled camera)
            parts = False
            while parts is False:
                parts = self._core.next(self._tracked, 100)
        except KeyboardInterrupt:
            raise  # at once: close() (or leaving ``with``) then waits for a stalled source's read
        except BaseException:
            self.close()
            raise
        if parts is None:
            self.close()
            raise StopIteration
        parts["instances"] = self._segmenter._instances(parts["instances"])
        return StreamResult(**parts)

    def close(self) -> None:
        """Ends the stream now: frames in flight are dropped, its threads joined."""
        core, self._core = self._core, None
        if core is not None:
            core.stop()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
