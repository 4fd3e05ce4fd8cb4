"""Tiled inference: frames larger than the network input, or holding more
objects than one input can (at most n = S*S, one per grid cell), are cut into
overlapping tiles; instances are merged back.

Merging: every frame point belongs to the *core* of exactly one tile (tile
borders inside the frame are moved to the middle of the overlap); a tile keeps
the instances whose box centre lies in its core, then class-aware NMS across
tiles removes what is left of objects seen twice. Objects up to about half the
overlap wide are never cut by a tile border.
"""

from typing import List, NamedTuple

import numpy as np


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


def _starts(length: int, size: int, overlap: int) -> List[int]:
    """The fewest tiles whose neighbours overlap by >= overlap, evenly spaced."""
    if length <= size:
        return [0]
    count = -(-(length - overlap) // (size - overlap))  # ceil
    span = length - size
    return [int(round(i * span / (count - 1))) for i in range(count)]


def tile_grid(height: int, width: int, size: int, overlap: int) -> List[Tile]:
    """Tiles of size x size (the frame's size where smaller) covering the
    frame, neighbours overlapping by at least ``overlap`` pixels."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("tile size must be >= 1 and 0 <= overlap < size, got size {} overlap {}"
                         .format(size, overlap))
    ys, xs = _starts(height, size, overlap), _starts(width, size, overlap)

    def cores(starts, length):
        ends = [min(s + size, length) for s in starts]
        lo = [0.0] + [(ends[i - 1] + starts[i]) / 2.0 for i in range(1, len(starts))]
        hi = lo[1:] + [float(length)]
        return ends, lo, hi

    y_ends, cy0, cy1 = cores(ys, height)
    x_ends, cx0, cx1 = cores(xs, width)
    return [Tile(y, x, ye, xe, a, b, c, d)
            for y, ye, a, c in zip(ys, y_ends, cy0, cy1)
            for x, xe, b, d in zip(xs, x_ends, cx0, cx1)]


def in_core(boxes: np.ndarray, tile: Tile) -> np.ndarray:
    """Which frame-coordinate boxes have their centre in the tile's core."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    last_x = tile.core_x1 >= tile.x1  # the frame's own edge closes the core
    last_y = tile.core_y1 >= tile.y1
    inside_x = (cx >= tile.core_x0) & ((cx < tile.core_x1) | (last_x & (cx <= tile.core_x1)))
    inside_y = (cy >= tile.core_y0) & ((cy < tile.core_y1) | (last_y & (cy <= tile.core_y1)))
    return inside_x & inside_y
