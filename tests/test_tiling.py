"""Tile grids and the core partition used to merge tiled results."""

import numpy as np
import pytest

from fassst_rt.tiling import in_core, tile_grid


@pytest.mark.parametrize("h,w,size,overlap", [(300, 420, 128, 32), (700, 1100, 192, 64), (100, 90, 128, 32),
                                              (129, 128, 128, 0), (1000, 33, 64, 63)])
def test_tiles_cover_the_frame_with_the_requested_overlap(h, w, size, overlap):
    tiles = tile_grid(h, w, size, overlap)
    covered = np.zeros((h, w), int)
    for t in tiles:
        assert 0 <= t.y0 < t.y1 <= h and 0 <= t.x0 < t.x1 <= w
        assert t.y1 - t.y0 == min(size, h) and t.x1 - t.x0 == min(size, w)
        covered[t.y0:t.y1, t.x0:t.x1] += 1
    assert covered.min() >= 1
    xs = sorted({t.x0 for t in tiles})
    for a, b in zip(xs, xs[1:]):
        assert a + min(size, w) - b >= overlap  # neighbours overlap enough


def test_every_point_belongs_to_exactly_one_core():
    h, w = 333, 517
    tiles = tile_grid(h, w, 128, 40)
    rng = np.random.default_rng(0)
    centres = np.concatenate([rng.uniform(0, [w, h], (2000, 2)), [[0, 0], [w, h], [w, 0], [0, h]]])
    boxes = np.concatenate([centres - 1, centres + 1], 1)
    owners = np.sum([in_core(boxes, t) for t in tiles], axis=0)
    assert (owners == 1).all()
    for t in tiles:  # a core lies inside its tile
        assert t.x0 <= t.core_x0 <= t.core_x1 <= t.x1 and t.y0 <= t.core_y0 <= t.core_y1 <= t.y1


def test_bad_tiling_is_refused():
    with pytest.raises(ValueError, match=r"0 <= overlap < size"):
        tile_grid(100, 100, 64, 64)
