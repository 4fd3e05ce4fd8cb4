"""Dense-frame outputs that do not grow with the instance count:
Instances.label_image() and per-instance masks for the overlay and RLE."""

import os

import numpy as np

from fassst_rt import Segmenter
from fassst_rt.results import Instances

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny", "tiny.onnx")


def random_instances(rng, k, h=60, w=80, sm=8):
    x1 = rng.uniform(-10, w, k)
    y1 = rng.uniform(-10, h, k)
    boxes = np.stack([x1, y1, x1 + rng.uniform(0, 40, k), y1 + rng.uniform(0, 40, k)], 1).astype(np.float32)
    boxes[0] = [5, 5, 5, 30]  # an empty box
    return Instances(boxes=boxes, scores=np.sort(rng.random(k))[::-1], labels=np.zeros(k, np.int64),
                     names=["a"], box_masks=rng.random((k, sm, sm)).astype(np.float32), mask_boxes=boxes,
                     image_size=(h, w))


def test_label_image_is_the_first_covering_instance(rng):
    inst = random_instances(rng, 30)
    masks = inst.masks
    want = np.zeros(inst.image_size, np.int32)
    for i in range(len(inst) - 1, -1, -1):  # earlier (higher-scoring) instances win
        want[masks[i]] = i + 1
    got = inst.label_image()
    assert got.dtype == np.int32 and got.shape == inst.image_size
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) > 5  # overlaps and background both present


def test_label_image_of_no_instances_is_background(rng):
    inst = random_instances(rng, 3)
    empty = Instances(boxes=np.zeros((0, 4)), scores=[], labels=[], names=["a"],
                      box_masks=np.zeros((0, 8, 8)), mask_boxes=np.zeros((0, 4)), image_size=(7, 9))
    np.testing.assert_array_equal(empty.label_image(), np.zeros((7, 9), np.int32))
    assert inst.label_image().shape == (60, 80)


def test_rle_and_plot_make_one_mask_at_a_time(rng):
    inst = random_instances(rng, 12)
    rles = inst.rle()
    overlay = inst.plot(np.zeros((60, 80, 3), np.uint8))
    assert inst._masks is None, "rle() and plot() must not build all K full-frame masks"
    for i, rle in enumerate(rles):
        flat = np.repeat(np.arange(len(rle["counts"])) % 2, rle["counts"]).astype(bool)
        np.testing.assert_array_equal(flat.reshape((60, 80), order="F"), inst.mask(i))
    np.testing.assert_array_equal(np.stack([inst.mask(i) for i in range(len(inst))]), inst.masks)
    assert overlay.any()


def test_label_image_on_a_segmented_frame(rng):
    frame = rng.integers(0, 256, (100, 140, 3), dtype=np.uint8)
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        inst = seg.run(frame)
    assert len(inst) > 0
    labels = inst.label_image()
    for i in range(len(inst)):
        assert np.all(labels[inst.mask(i)] <= i + 1)
    assert set(np.unique(labels)) <= set(range(len(inst) + 1))
