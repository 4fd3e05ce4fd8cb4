"""Images and their instance masks as the network sees them: the runtime's own
letterbox and normalisation (``fassst_rt.processing``, one implementation)
applied to training data, and boxes read back from the letterboxed masks.
NumPy only (the training data set wraps the results in tensors)."""

from typing import Sequence

import numpy as np


def letterbox_image(image: np.ndarray, size: int):
    """The runtime's letterbox (``fassst_rt.processing.letterbox``; the result
    has ``image``, ``scale``, ``pad_x``, ``pad_y``)."""
    from ..processing import letterbox

    return letterbox(image, size)


def letterbox_masks(masks: np.ndarray, size: int, chunk: int = 64) -> np.ndarray:
    """(N, H, W) 0/1 masks -> (N, size, size) uint8 0/1 through the runtime letterbox."""
    n = masks.shape[0]
    out = np.zeros((n, size, size), dtype=np.uint8)
    for start in range(0, n, chunk):
        part = np.ascontiguousarray(np.moveaxis(masks[start:start + chunk], 0, -1)) * np.uint8(255)
        lb = np.asarray(letterbox_image(part, size).image)
        if lb.ndim == 2:
            lb = lb[:, :, None]
        out[start:start + chunk] = np.moveaxis(lb >= 128, -1, 0)
    return out


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, 4) float32 x1, y1, x2, y2: [min col, min row, max col + 1, max row + 1]
    (zeros for an empty mask)."""
    boxes = np.zeros((masks.shape[0], 4), dtype=np.float32)
    for i, m in enumerate(masks):
        cols = np.flatnonzero(m.any(axis=0))
        rows = np.flatnonzero(m.any(axis=1))
        if cols.size:
            boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes


def normalize(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> (3, S, S) float32 ``(x / 255 - mean) / std``: the runtime's
    ``fassst_rt.processing.to_network_input`` (one implementation)."""
    from ..processing import to_network_input

    return np.ascontiguousarray(to_network_input(image, mean, std, bgr=False)[0])
