"""What every backend provides."""

from typing import NamedTuple

import numpy as np

from .. import _C, ops
from ..metadata import ModelMetadata

ModelError = _C.ModelError  # a ValueError; MetadataError is one kind of it


class FrameOutputs(NamedTuple):
    """The frame graph's outputs for a batch of B network inputs."""

    boxes: np.ndarray   # (B, n, 4) x1, y1, x2, y2 in network-input pixels
    scores: np.ndarray  # (B, n, C) class probabilities
    p1: object          # (B, M, H/8, W/8): NumPy, or a device array on GPU backends
    p2: object
    p3: object


class Backend:
    """A loaded model: its metadata, its frame graph and its tail graph.

    A Segmenter runs a backend through the C++ core's Backend interface: it
    calls ``run_frame`` and ``run_tail`` (with the GIL held) and runs the ROI
    feature fusion itself on host pyramids; it calls ``fuse_and_tail`` when
    the pyramid is on a device (or when ``fuses_host_pyramid`` says the
    backend fuses its own way, as the PyTorch reference model does)."""

    name = "base"
    metadata = None  # type: ModelMetadata
    fuses_host_pyramid = False
    # The most images per run_frame and instances per fuse_and_tail call the
    # backend accepts (0: no limit); the Segmenter splits its work to fit.
    max_frame_batch = 0
    max_tail_batch = 0
    # True when run_frame may run on one thread while fuse_and_tail runs on
    # another, a frame's outputs staying valid across later run_frame calls
    # (host outputs, thread-safe sessions): a stream then overlaps the graphs.
    overlaps_graphs = False

    def run_frame(self, images: np.ndarray) -> FrameOutputs:
        """images: (B, 3, S, S) float32 normalised network input."""
        raise NotImplementedError

    def run_tail(self, rois: np.ndarray) -> np.ndarray:
        """rois: (K, M, S1, S1) fused ROI features -> (K, 1, 2 S1, 2 S1) mask logits."""
        raise NotImplementedError

    def fuse_and_tail(self, frame: FrameOutputs, rois: np.ndarray) -> np.ndarray:
        """ROI feature fusion of ``rois`` (K, 5) [batch_index, x1, y1, x2, y2]
        on the frame's pyramid (or the p1 crop alone for a model trained
        without RFF), then the tail: (K, 1, 2 S1, 2 S1) logits. For callers
        of a backend outside a Segmenter (which fuses host pyramids in the
        core); backends that keep the pyramid on a GPU override this."""
        m = self.metadata
        if m.rff:
            features = ops.roi_fuse(frame.p1, frame.p2, frame.p3, rois, m.roi_size, tuple(m.strides))
        else:
            features = ops.roi_crop(frame.p1, rois, m.roi_size, m.strides[0])
        return self.run_tail(features)

    def close(self) -> None:
        """Releases the backend's resources (idempotent)."""
