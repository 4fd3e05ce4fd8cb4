"""Tiled inference: frames larger than the network input, or holding more
objects than one input can (at most n = S*S, one per grid cell), are cut into
overlapping tiles; instances are merged back.

Merging: every frame point belongs to the *core* of exactly one tile (tile
borders inside the frame are moved to the middle of the overlap); a tile keeps
the instances whose box centre lies in its core, then class-aware NMS across
tiles removes what is left of objects seen twice. Objects up to about half the
overlap wide are never cut by a tile border.

The arithmetic is the C++ core's (``csrc/core/tiling.cpp``), shared with the
C++ API, so that both runtimes tile and merge identically.
"""

from typing import List, NamedTuple

import numpy as np

from . import _C


class Tile(NamedTuple):
    y0: int
    x0: int
    y1: int  # exclusive
    x1: int
    # core region (frame coordinates) whose box centres this tile keeps
    core_y0: float
    core_x0: float
    core_y1: float
    core_x1: float


def tile_grid(height: int, width: int, size: int, overlap: int) -> List[Tile]:
    """Tiles of size x size (the frame's size where smaller) covering the
    frame, neighbours overlapping by at least ``overlap`` pixels: the fewest
    that do, evenly spaced, in row-major order."""
    return [Tile(*t) for t in _C.tile_grid(int(height), int(width), int(size), int(overlap))]


def axis_starts(length: int, size: int, overlap: int) -> List[int]:
    """The tile starts along one axis of ``length`` pixels."""
    return [t.y0 for t in tile_grid(length, 1, size, overlap)]


def in_core(boxes: np.ndarray, tile: Tile) -> np.ndarray:
    """Which frame-coordinate boxes (K, 4) have their centre in the tile's
    core (centres computed in float32, as the runtime's boxes are)."""
    boxes = np.ascontiguousarray(boxes, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError("boxes must have shape (K, 4), got {}".format(boxes.shape))
    return _C.in_core(boxes, tuple(tile))


def cross_tile_nms(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray, num_classes: int,
                   nms_threshold: float) -> np.ndarray:
    """Indices kept by the class-aware NMS across tiles (descending score):
    the selection's NMS over all instances of the frame."""
    boxes = np.ascontiguousarray(boxes, dtype=np.float32).reshape(-1, 4)
    labels = np.ascontiguousarray(labels, dtype=np.int64).reshape(-1)
    scores = np.ascontiguousarray(scores, dtype=np.float32).reshape(-1)
    return _C.cross_tile_nms(boxes, labels, scores, int(num_classes), float(nms_threshold))
