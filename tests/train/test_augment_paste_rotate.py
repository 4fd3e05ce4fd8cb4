"""Random-angle rotation and copy-paste: checked against np.rot90 / flips, against the
definition of a counter-clockwise rotation, and against hand-built scenes whose pasted pixels
are recognisable by colour."""

import json
import math
import os

import numpy as np
import pytest

from fassst_rt.data import augment as aug

PASTE_COLOUR = (201, 33, 97)  # a flat source colour the noisy targets never hold


def _noise(shape, seed=0, hi=100):
    return np.random.default_rng(seed).integers(0, hi, shape).astype(np.uint8)


def _box_centre(mask):
    y0, x0, y1, x1 = aug.mask_box(mask)
    return 0.5 * (y0 + y1), 0.5 * (x0 + x1), math.hypot(y1 - y0, x1 - x0)


# --- rotate ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [9, 10])
def test_rotate_90_is_rot90(size):
    image = _noise((size, size, 3), seed=size, hi=256)
    masks = (_noise((2, size, size), seed=size + 1, hi=2)).astype(np.uint8)
    for angle, k in [(90, 1), (-90, -1), (270, -1)]:
        out, out_masks = aug.rotate(image, masks, angle)
        np.testing.assert_array_equal(out, np.rot90(image, k))
        np.testing.assert_array_equal(out_masks, np.rot90(masks, k, axes=(1, 2)))


def test_rotate_0_is_the_identity():
    image = _noise((11, 17, 3), hi=256)
    masks = _noise((3, 11, 17), seed=1, hi=2)
    out, out_masks = aug.rotate(image, masks, 0.0)
    np.testing.assert_array_equal(out, image)
    np.testing.assert_array_equal(out_masks, masks)


@pytest.mark.parametrize("shape", [(9, 9), (10, 10), (7, 12)])
def test_rotate_180_is_a_double_flip(shape):
    image = _noise(shape + (3,), hi=256)
    masks = _noise((2,) + shape, seed=2, hi=2)
    out, out_masks = aug.rotate(image, masks, 180.0)
    np.testing.assert_array_equal(out, image[::-1, ::-1])
    np.testing.assert_array_equal(out_masks, masks[:, ::-1, ::-1])


def test_rotate_37_degrees_keeps_area_and_turns_counter_clockwise():
    size, angle = 101, 37.0
    masks = np.zeros((1, size, size), np.uint8)
    masks[0, 40:50, 62:90] = 1  # a rod right of and above the centre (50, 50)
    out, out_masks = aug.rotate(np.zeros((size, size, 3), np.uint8), masks, angle)
    assert abs(int(out_masks.sum()) - int(masks.sum())) <= 0.03 * masks.sum()
    # counter-clockwise as displayed (rows down): (right, up) = (x, -y) turns by +angle
    ys, xs = np.nonzero(masks[0])
    x, up = xs.mean() - 50, 50 - ys.mean()
    t = math.radians(angle)
    expect_x, expect_up = x * math.cos(t) - up * math.sin(t), x * math.sin(t) + up * math.cos(t)
    ys, xs = np.nonzero(out_masks[0])
    assert abs((xs.mean() - 50) - expect_x) < 0.5 and abs((50 - ys.mean()) - expect_up) < 0.5


def test_rotate_pads_with_114_and_keeps_the_size():
    image = np.full((40, 60, 3), 7, np.uint8)
    masks = np.ones((1, 40, 60), np.uint8)
    out, out_masks = aug.rotate(image, masks, 45.0)
    assert out.shape == image.shape and out_masks.shape == masks.shape
    assert (out[0, 0] == 114).all() and (out[-1, -1] == 114).all() and (out[20, 30] == 7).all()
    assert set(np.unique(out)) == {7, 114}  # clamped edges: no blend with the padding
    # the image and mask agree on what came from inside
    np.testing.assert_array_equal(out_masks[0] == 1, out[:, :, 0] == 7)


def test_rotate_keeps_touching_masks_disjoint():
    masks = np.zeros((2, 50, 50), np.uint8)
    masks[0, 10:40, 10:25] = 1
    masks[1, 10:40, 25:40] = 1
    for angle in (13.0, 33.0, 45.0, -71.5):
        _, out = aug.rotate(np.zeros((50, 50, 3), np.uint8), masks, angle)
        assert out.max() == 1 and out.sum(axis=0).max() == 1


def test_augment_rotation_is_rotate_with_the_drawn_angle():
    image = _noise((30, 40, 3), hi=256)
    masks = _noise((2, 30, 40), seed=3, hi=2)
    opts = {"flip_prob": 0.0, "crop_prob": 0.0, "jitter_prob": 0.0, "rotate_prob": 1.0,
            "rotate_max_deg": 60.0}
    angles = []
    for seed in range(5):
        out, out_masks, info = aug.augment(image, masks, np.random.default_rng(seed), opts)
        assert -60.0 <= info["angle"] <= 60.0
        expect, expect_masks = aug.rotate(image, masks, info["angle"])
        np.testing.assert_array_equal(out, expect)
        np.testing.assert_array_equal(out_masks, expect_masks)
        angles.append(info["angle"])
    assert len(set(angles)) == 5


def test_new_options_off_leave_the_random_stream_alone():
    image = _noise((30, 40, 3), hi=256)
    masks = _noise((2, 30, 40), seed=3, hi=2)
    a = aug.augment(image, masks, np.random.default_rng(5))
    b = aug.augment(image, masks, np.random.default_rng(5),
                    {"rotate_prob": 0.0, "copy_paste_prob": 0.9, "copy_paste_max": 3,
                     "copy_paste_near": 1.0, "copy_paste_classes": ["x"]})
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2] and a[2]["angle"] == 0.0


@pytest.mark.parametrize("options,name", [
    ({"rotate_prob": 1.5}, "rotate_prob"),
    ({"rotate_max_deg": 200}, "rotate_max_deg"),
    ({"rotate_max_deg": -1}, "rotate_max_deg"),
    ({"copy_paste_prob": -0.1}, "copy_paste_prob"),
    ({"copy_paste_near": 2}, "copy_paste_near"),
    ({"copy_paste_max": 0}, "copy_paste_max"),
    ({"copy_paste_max": 2.5}, "copy_paste_max"),
    ({"copy_paste_classes": "bacterium"}, "copy_paste_classes"),
    ({"flip_prob": "half"}, "flip_prob"),
])
def test_bad_option_values_raise_naming_the_option(options, name):
    image, masks = _noise((8, 8, 3)), np.zeros((0, 8, 8), np.uint8)
    with pytest.raises(ValueError, match=name):
        aug.augment(image, masks, np.random.default_rng(0), options)
    with pytest.raises(ValueError, match="unknown"):
        aug.augment(image, masks, np.random.default_rng(0), {"rotate_probability": 0.5})


# --- paste_instances --------------------------------------------------------------------------

def _flat_source(shape=(60, 60), boxes=((5, 5, 15, 30), (30, 10, 42, 22), (20, 40, 50, 48)),
                 labels=(0, 0, 0)):
    """A source image of one flat colour: every resampled pixel of it is that colour."""
    image = np.empty(shape + (3,), np.uint8)
    image[:] = PASTE_COLOUR
    masks = np.zeros((len(boxes),) + shape, np.uint8)
    for m, (y0, x0, y1, x1) in zip(masks, boxes):
        m[y0:y1, x0:x1] = 1
    return image, masks, np.array(labels, np.int64)


def _target(shape=(80, 100)):
    """A noisy image (values < 100) with three disjoint instances of labels 0, 1, 0."""
    masks = np.zeros((3,) + shape, np.uint8)
    masks[0, 10:30, 10:40] = 1
    masks[1, 40:70, 20:35] = 1
    masks[2, 35:60, 60:90] = 1
    return _noise(shape + (3,), seed=9), masks, np.array([0, 1, 0], np.int64)


def _pasted_pixels(image):
    return (image == np.array(PASTE_COLOUR, np.uint8)).all(axis=-1)


@pytest.mark.parametrize("seed", range(6))
def test_paste_follows_the_rules(seed):
    image, masks, labels = _target()
    src = _flat_source()
    out, out_masks, out_labels, pasted = aug.paste_instances(
        image, masks, labels, *src, np.random.default_rng(seed), max_count=3, near_prob=0.5)
    assert out.dtype == np.uint8 and out_masks.dtype == np.uint8 and out_labels.dtype == np.int64
    assert 1 <= pasted <= 3
    covered = _pasted_pixels(out)
    # hard paste: the image changed exactly where the pasted colour is, nowhere else
    np.testing.assert_array_equal(out[~covered], image[~covered])
    # originals lost exactly the pasted pixels; those left with < 25 % are gone
    kept = [m & ~covered for m in masks.astype(bool) if (m & ~covered).sum() >= 0.25 * m.sum()]
    kept_labels = [lab for m, lab in zip(masks.astype(bool), labels)
                   if (m & ~covered).sum() >= 0.25 * m.sum()]
    n_kept = len(kept)
    for got, expect in zip(out_masks[:n_kept], kept):
        np.testing.assert_array_equal(got.astype(bool), expect)
    assert out_labels[:n_kept].tolist() == kept_labels
    # the rest are pasted: inside the pasted pixels, at most ``pasted`` of them
    assert n_kept <= len(out_masks) <= n_kept + pasted
    for m in out_masks[n_kept:]:
        assert m.any() and not (m.astype(bool) & ~covered).any()
    assert covered.any() and out_masks.sum(axis=0).max() <= 1  # still pairwise disjoint


def test_label_count_grows_by_the_number_pasted():
    image, masks, labels = _target((200, 200))
    src = _flat_source(boxes=((5, 5, 10, 12),), labels=(1,))
    for seed in range(5):
        out, out_masks, out_labels, pasted = aug.paste_instances(
            image, masks, labels, *src, np.random.default_rng(seed), max_count=1, near_prob=0.0)
        covered = _pasted_pixels(out)
        assert pasted == 1 and covered.sum() == 35 and out_masks[-1].sum() == 35
        n_kept = sum((m.astype(bool) & ~covered).sum() >= 0.25 * m.sum() for m in masks)
        assert len(out_labels) == n_kept + pasted and out_labels[-1] == 1


def test_pasted_pixels_stay_on_their_mask():
    """Source pixels 250 on the instance, 10 around it: after rotation the pasted mask must
    still sit on the 250s (the image is bilinear, so only its interior is checked exactly)."""
    from scipy import ndimage as ndi

    src_image = np.full((50, 50, 3), 10, np.uint8)
    src_masks = np.zeros((1, 50, 50), np.uint8)
    src_masks[0, 8:20, 5:45] = 1  # a rod
    src_image[src_masks[0] > 0] = 250
    image = np.zeros((120, 120, 3), np.uint8)
    for seed in range(8):
        out, out_masks, _, pasted = aug.paste_instances(
            image, np.zeros((0, 120, 120), np.uint8), np.zeros(0, np.int64), src_image, src_masks,
            np.array([0]), np.random.default_rng(seed), max_count=1)
        m = out_masks[0].astype(bool)
        assert pasted == 1 and abs(int(m.sum()) - 480) <= 0.05 * 480
        assert (out[ndi.binary_erosion(m)] == 250).all()
        assert out[m].mean() > 200 and (out[~m] == 0).all()


def test_instance_occluded_by_more_than_75_percent_is_removed():
    """A disk filling a 41 x 41 target can only be placed at (0, 0), whatever its rotation."""
    yy, xx = np.mgrid[:41, :41]
    disk = ((yy - 20) ** 2 + (xx - 20) ** 2 <= 19.5 ** 2).astype(np.uint8)
    src = (np.full((41, 41, 3), PASTE_COLOUR, np.uint8), disk[None], np.array([0]))
    masks = np.zeros((3, 41, 41), np.uint8)
    masks[0, 16:26, 0:20] = 1   # mostly under the disk
    masks[1, 0:10, 0:10] = 1    # a corner: mostly outside it
    masks[2, 18:22, 18:22] = 1  # the centre: all under it
    image = _noise((41, 41, 3), seed=4)
    for seed in range(4):
        out, out_masks, out_labels, pasted = aug.paste_instances(
            image, masks, np.array([1, 1, 1]), *src, np.random.default_rng(seed), max_count=1)
        covered = _pasted_pixels(out)
        lost = [(m.astype(bool) & covered).sum() / m.sum() for m in masks]
        assert pasted == 1 and lost[0] > 0.75 and 0 < lost[1] < 0.75 and lost[2] == 1
        assert out_labels.tolist() == [1, 0] and len(out_masks) == 2
        np.testing.assert_array_equal(out_masks[0].astype(bool), masks[1].astype(bool) & ~covered)
        np.testing.assert_array_equal(out_masks[1].astype(bool), covered)


def test_only_allowed_classes_are_pasted():
    image, masks, labels = _target()
    src = _flat_source(labels=(0, 2, 2))
    seen = set()
    for seed in range(6):
        out, out_masks, out_labels, pasted = aug.paste_instances(
            image, masks, labels, *src, np.random.default_rng(seed), max_count=3, classes={2})
        covered = _pasted_pixels(out)
        for m, lab in zip(out_masks, out_labels):
            if (m.astype(bool) & covered).any():
                assert lab == 2
                seen.add(lab)
        assert 1 <= pasted <= 3
    assert seen == {2}
    # nothing of an allowed class in the source: nothing is pasted
    out, out_masks, out_labels, pasted = aug.paste_instances(
        image, masks, labels, *src, np.random.default_rng(0), classes={1})
    assert pasted == 0 and (out == image).all() and (out_masks == masks).all()


def test_paste_is_deterministic_for_a_seed():
    image, masks, labels = _target()
    src = _flat_source()
    a = aug.paste_instances(image, masks, labels, *src, np.random.default_rng(7), max_count=3)
    b = aug.paste_instances(image, masks, labels, *src, np.random.default_rng(7), max_count=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    others = [aug.paste_instances(image, masks, labels, *src, np.random.default_rng(s), max_count=3)
              for s in range(8, 12)]
    assert any(not np.array_equal(a[0], o[0]) for o in others)


def test_pasted_count_is_uniform_in_1_to_max_even_from_a_sparse_source():
    """Two source instances, up to four pasted: the instances are pasted again."""
    image, masks, labels = _target((150, 150))
    src = _flat_source(boxes=((2, 2, 5, 9), (20, 2, 26, 5)), labels=(0, 0))
    counts = [aug.paste_instances(image, masks, labels, *src, np.random.default_rng(s),
                                  max_count=4, near_prob=0.0)[3] for s in range(60)]
    assert set(counts) == {1, 2, 3, 4}


def test_near_placement_touches_an_instance_of_the_same_class():
    image = _noise((200, 200, 3))
    masks = np.zeros((2, 200, 200), np.uint8)
    masks[0, 90:100, 80:120] = 1   # label 0: the only possible anchor
    masks[1, 10:20, 10:20] = 1     # label 1
    anchor_y, anchor_x, anchor_diag = _box_centre(masks[0])
    src = _flat_source(boxes=((10, 10, 22, 40),), labels=(0,))
    far = 0
    for seed in range(10):
        _, near_masks, _, pasted = aug.paste_instances(
            image, masks, np.array([0, 1]), *src, np.random.default_rng(seed), max_count=1,
            near_prob=1.0)
        y, x, diag = _box_centre(near_masks[-1])
        reach = 0.5 * (anchor_diag + diag)
        dist = math.hypot(y - anchor_y, x - anchor_x)
        assert pasted == 1 and 0.6 * reach - 0.75 <= dist <= reach + 0.75
        # uniform placement lands farther away most of the time
        _, uniform_masks, _, _ = aug.paste_instances(
            image, masks, np.array([0, 1]), *src, np.random.default_rng(seed), max_count=1,
            near_prob=0.0)
        y, x, _ = _box_centre(uniform_masks[-1])
        far += math.hypot(y - anchor_y, x - anchor_x) > reach + 0.75
    assert far >= 7
    # no instance of the class there: placed uniformly all the same
    _, out_masks, out_labels, pasted = aug.paste_instances(
        image, masks, np.array([1, 1]), *src, np.random.default_rng(0), max_count=1, near_prob=1.0)
    assert pasted == 1 and out_labels[-1] == 0


def test_instances_that_do_not_fit_are_skipped():
    image, masks, labels = _target((20, 20))
    src = _flat_source(boxes=((0, 0, 50, 50),), labels=(0,))
    out, out_masks, out_labels, pasted = aug.paste_instances(
        image, masks[:, :20, :20], labels, *src, np.random.default_rng(0))
    assert pasted == 0 and (out == image).all()


# --- CocoInstanceDataset ------------------------------------------------------------------
# (needs PyTorch and pycocotools: these tests skip themselves without them)

STILL = {"flip_prob": 0.0, "crop_prob": 0.0, "jitter_prob": 0.0}
needs_torch = pytest.mark.train
pycocotools_numpy2 = pytest.mark.filterwarnings(  # pycocotools on NumPy 2
    "ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def coco():
    pytest.importorskip("torch")
    pytest.importorskip("pycocotools")
    from fassst_rt.train.data import coco

    return coco


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from fassst_rt.data import synthetic

    root = tmp_path_factory.mktemp("paste_shapes")
    return synthetic.generate(root, 4, size=(96, 128), seed=3, classes=("ellipse", "rectangle"),
                              min_instances=2, max_instances=3, photo_backgrounds=False)


def _class_counts(ds):
    counts = np.zeros(len(ds.class_names), int)
    pasted = []
    for index in range(len(ds)):
        _, t = ds[index]
        counts += np.bincount(t["labels"].numpy(), minlength=len(ds.class_names))
        pasted.append(t["pasted"])
    return counts, pasted


@needs_torch
@pycocotools_numpy2
def test_dataset_copy_paste_adds_instances_of_the_chosen_class_only(coco, shapes):
    import torch

    plain = coco.CocoInstanceDataset(shapes, input_size=96, augment=True, seed=1,
                                     augment_options=STILL)
    pasting = coco.CocoInstanceDataset(
        shapes, input_size=96, augment=True, seed=1,
        augment_options=dict(STILL, copy_paste_prob=1.0, copy_paste_classes=["rectangle"],
                             copy_paste_max=4))
    assert pasting.class_names == ["ellipse", "rectangle"] and pasting.paste_labels == {1}
    before, _ = _class_counts(plain)
    after, pasted = _class_counts(pasting)
    assert all(p >= 1 for p in pasted)
    assert after[1] > before[1] and after[0] <= before[0] and after.sum() > before.sum()
    image, target = pasting[1]
    again, target_again = pasting[1]
    assert torch.equal(image, again) and torch.equal(target["masks"], target_again["masks"])


@needs_torch
@pycocotools_numpy2
def test_dataset_copy_paste_off_changes_nothing(coco, shapes):
    import torch

    plain = coco.CocoInstanceDataset(shapes, input_size=96, augment=True, seed=2)
    off = coco.CocoInstanceDataset(shapes, input_size=96, augment=True, seed=2,
                                   augment_options={"copy_paste_prob": 0.0, "rotate_prob": 0.0,
                                                    "copy_paste_classes": ["ellipse"]})
    for index in range(len(plain)):
        (a, ta), (b, tb) = plain[index], off[index]
        assert torch.equal(a, b) and torch.equal(ta["masks"], tb["masks"]) and tb["pasted"] == 0


@needs_torch
@pycocotools_numpy2
@pytest.mark.parametrize("options,pattern", [
    ({"copy_paste_classes": ["bacterium"]}, "copy_paste_classes.*bacterium"),
    ({"copy_paste_prob": 1.1}, "copy_paste_prob"),
    ({"copy_paste_max": 0}, "copy_paste_max"),
])
def test_dataset_rejects_bad_copy_paste_options(coco, shapes, options, pattern):
    with pytest.raises(ValueError, match=pattern):
        coco.CocoInstanceDataset(shapes, input_size=96, augment=True, augment_options=options)


@needs_torch
@pycocotools_numpy2
def test_dataset_rejects_copy_paste_of_a_class_no_image_holds(coco, shapes, tmp_path):
    with open(shapes) as f:
        d = json.load(f)
    d["categories"].append({"id": 99, "name": "bacterium"})
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="copy_paste_prob.*bacterium"):
        coco.CocoInstanceDataset(path, image_dir=os.path.dirname(shapes), augment=True,
                                 augment_options={"copy_paste_prob": 0.5,
                                                  "copy_paste_classes": ["bacterium"]})


@needs_torch
@pycocotools_numpy2
def test_dataset_copy_paste_stays_within_an_image_group(coco, shapes, tmp_path):
    # Images 0-1 form group "a", the rest group "b"; rectangles are removed from group "b", so
    # its images have no source and must come out as without copy-paste, while group "a" pastes.
    with open(shapes) as f:
        d = json.load(f)
    ids = sorted(im["id"] for im in d["images"])
    group_a = set(ids[:2])
    rect = [c["id"] for c in d["categories"] if c["name"] == "rectangle"][0]
    for im in d["images"]:
        im["dataset"] = "a" if im["id"] in group_a else "b"
    d["annotations"] = [a for a in d["annotations"]
                        if a["image_id"] in group_a or a["category_id"] != rect]
    path = tmp_path / "groups.json"
    path.write_text(json.dumps(d))
    options = dict(STILL, copy_paste_prob=1.0, copy_paste_classes=["rectangle"])
    pasting = coco.CocoInstanceDataset(path, image_dir=os.path.dirname(shapes), input_size=96,
                                       augment=True, seed=3, augment_options=options)
    assert set(pasting.paste_sources) == {"a"}
    for index in range(len(pasting)):
        pasted = pasting[index][1]["pasted"]
        in_a = pasting.image_ids[index] in group_a
        assert (pasted >= 1) if in_a else (pasted == 0), (index, in_a, pasted)
