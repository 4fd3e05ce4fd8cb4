"""letterbox, select and paste (the C++ core through fassst_rt.processing)
against the float64 references in tests/reference/processing_reference.py."""

import numpy as np
import pytest

from fassst_rt import processing as P
from reference import processing_reference as ref


@pytest.mark.parametrize("shape,size", [((30, 50, 3), 64), ((50, 30, 3), 64), ((17, 17, 1), 40),
                                        ((480, 640, 3), 96), ((7, 300, 4), 32), ((1, 1, 3), 8)])
def test_letterbox_matches_reference(shape, size):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    got = P.letterbox(image, size)
    want, geometry = ref.letterbox(image, size)
    assert got.image.shape == (size, size, shape[2])
    assert got[1:] == pytest.approx(geometry)
    # float32 coordinates may round to the other integer where the exact value
    # lies near .5; everywhere else the result is the rounded reference
    differs = got.image != np.round(want)
    assert np.abs(got.image.astype(np.float64) - np.round(want)).max() <= 1
    assert (np.abs(want[differs] % 1.0 - 0.5) < 0.05).all()


def test_letterbox_pads_with_114_and_keeps_the_image_centred():
    image = np.full((20, 40, 3), 7, np.uint8)
    lb = P.letterbox(image, 40)
    assert (lb.scale, lb.pad_x, lb.pad_y, lb.new_width, lb.new_height) == (1.0, 0, 10, 40, 20)
    assert (lb.image[:10] == 114).all() and (lb.image[30:] == 114).all()
    np.testing.assert_array_equal(lb.image[10:30], image)  # scale 1: an exact copy


def test_letterbox_accepts_grayscale_and_rejects_bad_input():
    assert P.letterbox(np.zeros((10, 20), np.uint8), 16).image.shape == (16, 16, 1)
    with pytest.raises(TypeError, match=r"image must be uint8, got float32"):
        P.letterbox(np.zeros((10, 20, 3), np.float32), 16)
    with pytest.raises(ValueError, match=r"image must have shape .* got \(0, 20, 3\)"):
        P.letterbox(np.zeros((0, 20, 3), np.uint8), 16)
    with pytest.raises(ValueError, match=r"size must be a positive int, got 0"):
        P.letterbox(np.zeros((10, 20, 3), np.uint8), 0)


def test_boxes_to_frame_inverts_the_letterbox():
    rng = np.random.default_rng(0)
    h, w = 375, 500
    lb = P.letterbox(np.zeros((h, w, 3), np.uint8), 416)
    xs, ys = np.sort(rng.uniform(0, w, (20, 2)), 1), np.sort(rng.uniform(0, h, (20, 2)), 1)
    frame_boxes = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], 1)
    net = frame_boxes * lb.scale + np.array([lb.pad_x, lb.pad_y] * 2)
    back = P.boxes_to_frame(net.astype(np.float32), lb, h, w)
    np.testing.assert_allclose(back, frame_boxes, atol=1e-3)
    clipped = P.boxes_to_frame(np.array([[-50, -50, 1000, 1000]], np.float32), lb, h, w)
    np.testing.assert_allclose(clipped, [[0, 0, w, h]])


@pytest.mark.parametrize("seed", range(8))
def test_select_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n, c = 36, 3
    centres = rng.uniform(0, 200, (n, 2))
    sizes = rng.uniform(5, 80, (n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    scores = rng.uniform(0, 1, (n, c)).astype(np.float32)
    scores[rng.integers(0, n, 5)] = scores[0]  # repeated scores exercise the tie rule
    got = P.select(boxes, scores, 0.4, 0.3, 10)
    cells, labels = ref.select(boxes, scores, 0.4, 0.3, 10)
    assert got.cells.tolist() == cells and got.labels.tolist() == labels
    np.testing.assert_array_equal(got.scores, scores.max(1)[cells])


def test_select_is_class_aware_and_breaks_ties_by_cell():
    boxes = np.array([[0, 0, 10, 10]] * 3, np.float32)
    scores = np.array([[0.9, 0.0], [0.1, 0.9], [0.9, 0.0]], np.float32)
    s = P.select(boxes, scores, 0.5, 0.5, 10)
    assert s.cells.tolist() == [0, 1]  # cell 2 ties cell 0, same class, suppressed; cell 1 other class
    assert P.select(boxes, scores, 0.95, 0.5, 10).cells.size == 0
    assert P.select(boxes, scores, 0.5, 0.5, 1).cells.tolist() == [0]


def test_select_rejects_bad_input():
    with pytest.raises(ValueError, match=r"scores must have shape \(n, C\) with n = 2"):
        P.select(np.zeros((2, 4)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"score_threshold must be in \[0, 1\], got 2"):
        P.select(np.zeros((2, 4)), np.zeros((2, 2)), score_threshold=2)
    with pytest.raises(ValueError, match=r"boxes\[1, 2\] must be finite"):
        P.select(np.array([[0, 0, 1, 1], [0, 0, np.nan, 1]]), np.ones((2, 1)))


@pytest.mark.parametrize("seed", range(5))
def test_paste_matches_reference(seed):
    rng = np.random.default_rng(seed)
    h, w, k, sm = 40, 50, 4, 8
    x1, y1 = rng.uniform(-10, 40, k), rng.uniform(-10, 30, k)
    boxes = np.stack([x1, y1, x1 + rng.uniform(1, 30, k), y1 + rng.uniform(1, 30, k)], 1).astype(np.float32)
    box_masks = rng.uniform(0, 1, (k, sm, sm)).astype(np.float32)
    got = P.paste_masks(box_masks, boxes, h, w)
    assert got.shape == (k, h, w) and got.dtype == bool
    for i in range(k):
        prob = ref.paste_probabilities(box_masks[i], boxes[i], h, w)
        inside = ~np.isnan(prob)
        assert not got[i][~inside].any()
        decided = inside & (np.abs(prob - 0.5) > 1e-5)
        np.testing.assert_array_equal(got[i][decided], prob[decided] > 0.5)


def test_paste_degenerate_boxes_are_empty_and_bad_input_is_rejected():
    masks = np.ones((3, 4, 4), np.float32)
    boxes = np.array([[5, 5, 5, 9], [9, 9, 2, 2], [100, 100, 120, 120]], np.float32)
    assert not P.paste_masks(masks, boxes, 20, 20).any()
    with pytest.raises(ValueError, match=r"boxes must have shape \(3, 4\)"):
        P.paste_masks(masks, boxes[:2], 20, 20)
    with pytest.raises(ValueError, match=r"boxes\[0, 2\] must be finite"):
        P.paste_masks(masks[:1], np.array([[0, 0, np.inf, 1]], np.float32), 20, 20)
