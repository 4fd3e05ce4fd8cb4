"""What every backend provides."""

from typing import NamedTuple

import numpy as np

from .. import ops
from ..metadata import ModelMetadata


class ModelError(ValueError):
    """A model file is missing, unreadable, or inconsistent with its metadata."""


class FrameOutputs(NamedTuple):
    """The frame graph's outputs for a batch of B network inputs."""

    boxes: np.ndarray   # (B, n, 4) x1, y1, x2, y2 in network-input pixels
    scores: np.ndarray  # (B, n, C) class probabilities
    p1: object          # (B, M, H/8, W/8): NumPy, or a device array on GPU backends
    p2: object
    p3: object


class Backend:
    """A loaded model: its metadata, its frame graph and its tail graph."""

    name = "base"
    metadata = None  # type: ModelMetadata

    def run_frame(self, images: np.ndarray) -> FrameOutputs:
        """images: (B, 3, S, S) float32 normalised network input."""
        raise NotImplementedError

    def run_tail(self, rois: np.ndarray) -> np.ndarray:
        """rois: (K, M, S1, S1) fused ROI features -> (K, 1, 2 S1, 2 S1) mask logits."""
        raise NotImplementedError

    def fuse_and_tail(self, frame: FrameOutputs, rois: np.ndarray) -> np.ndarray:
        """ROI feature fusion of ``rois`` (K, 5) [batch_index, x1, y1, x2, y2]
        on the frame's pyramid (or the p1 crop alone for a model trained
        without RFF), then the tail: (K, 1, 2 S1, 2 S1) logits. Backends that
        keep the pyramid on a GPU override this."""
        m = self.metadata
        if m.rff:
            features = ops.roi_fuse(frame.p1, frame.p2, frame.p3, rois, m.roi_size, tuple(m.strides))
        else:
            features = ops.roi_crop(frame.p1, rois, m.roi_size, m.strides[0])
        return self.run_tail(features)

    def close(self) -> None:
        """Releases the backend's resources (idempotent)."""
