"""The procedural shapes data set: determinism, COCO validity, masks vs boxes, occlusion."""

import json
import os

import numpy as np
import pytest

try:
    from fassst_rt.data import synthetic
except ImportError as e:  # fassst_rt itself needs its compiled core
    pytest.skip("fassst_rt does not import here ({}); build/install it first".format(e),
                allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools on NumPy 2

pytest.importorskip("pycocotools")
from pycocotools import mask as mask_utils  # noqa: E402
from PIL import Image  # noqa: E402


def _load(ann_file):
    with open(ann_file) as f:
        return json.load(f)


def _masks_by_image(d):
    out = {}
    for a in d["annotations"]:
        out.setdefault(a["image_id"], []).append((a, mask_utils.decode(a["segmentation"]).astype(bool)))
    return out


def _pixels(root, d):
    return [np.asarray(Image.open(os.path.join(root, im["file_name"]))) for im in d["images"]]


def test_deterministic_by_seed_and_prefix_stable(tmp_path):
    a = synthetic.generate(tmp_path / "a", 4, size=(96, 128), seed=7)
    b = synthetic.generate(tmp_path / "b", 4, size=(96, 128), seed=7)
    c = synthetic.generate(tmp_path / "c", 2, size=(96, 128), seed=7)  # a prefix of the same set
    d = synthetic.generate(tmp_path / "d", 4, size=(96, 128), seed=8)
    da, db, dc, dd = _load(a), _load(b), _load(c), _load(d)
    assert da["annotations"] == db["annotations"]
    for x, y in zip(_pixels(tmp_path / "a", da), _pixels(tmp_path / "b", db)):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(_pixels(tmp_path / "a", da)[:2], _pixels(tmp_path / "c", dc)):
        np.testing.assert_array_equal(x, y)
    assert [a_["segmentation"] for a_ in da["annotations"] if a_["image_id"] <= 2] == \
        [a_["segmentation"] for a_ in dc["annotations"]]
    # another seed gives other images
    assert any(not np.array_equal(x, y) for x, y in zip(_pixels(tmp_path / "a", da), _pixels(tmp_path / "d", dd)))


def test_coco_fields_match_masks_and_masks_do_not_overlap(tmp_path):
    ann = synthetic.generate(tmp_path, 6, size=(120, 160), seed=3, min_instances=5, max_instances=8)
    d = _load(ann)
    assert [c["name"] for c in d["categories"]] == list(synthetic.SHAPES)
    assert [c["id"] for c in d["categories"]] == [1, 2, 3, 4, 5]
    images = {im["id"]: im for im in d["images"]}
    for image_id, items in _masks_by_image(d).items():
        im = images[image_id]
        pix = np.asarray(Image.open(os.path.join(tmp_path, im["file_name"])))
        assert pix.shape == (120, 160, 3) and pix.dtype == np.uint8
        union = np.zeros((120, 160), int)
        for a, m in items:
            assert m.shape == (im["height"], im["width"])
            ys, xs = np.nonzero(m)
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert a["area"] == m.sum() >= 30
            assert 1 <= a["category_id"] <= 5 and a["iscrowd"] == 0
            union += m
        assert union.max() == 1, "visible masks must not overlap"
    assert len({a["id"] for a in d["annotations"]}) == len(d["annotations"])


def test_exact_instance_count_and_occlusion(tmp_path):
    k = 6
    ann = synthetic.generate(tmp_path, 8, size=128, seed=1, min_instances=k, max_instances=k,
                             min_size=0.25, max_size=0.45, min_visible=0.4)
    d = _load(ann)
    per_image = _masks_by_image(d)
    assert sorted(per_image) == list(range(1, 9))
    assert all(len(v) == k for v in per_image.values())
    # Shapes this large on 128 px overlap: some instances lost pixels to later ones, none
    # below min_visible of its shape.
    visible = [a["area"] / a["full_area"] for v in per_image.values() for a, _ in v]
    assert min(visible) >= 0.4 and min(visible) < 0.95
    assert all(a["area"] <= a["full_area"] for v in per_image.values() for a, _ in v)
    # The last instance of an image is never occluded (nothing is drawn after it).
    for v in per_image.values():
        last = max(v, key=lambda item: item[0]["id"])[0]
        assert last["area"] == last["full_area"]


def test_classes_subset_and_zero_instances(tmp_path):
    ann = synthetic.generate(tmp_path / "s", 5, size=64, seed=0, classes=("ring", "star"),
                             min_instances=2, max_instances=3, photo_backgrounds=False)
    d = _load(ann)
    assert [c["name"] for c in d["categories"]] == ["ring", "star"]
    assert {a["category_id"] for a in d["annotations"]} <= {1, 2}
    empty = _load(synthetic.generate(tmp_path / "e", 2, size=32, seed=0, min_instances=0, max_instances=0))
    assert empty["annotations"] == [] and len(empty["images"]) == 2


def test_all_classes_occur_and_rings_have_holes(tmp_path):
    ann = synthetic.generate(tmp_path, 12, size=128, seed=5, min_instances=4, max_instances=6)
    d = _load(ann)
    assert {a["category_id"] for a in d["annotations"]} == {1, 2, 3, 4, 5}
    # a ring's mask has a hole: its filled area exceeds its own area
    from scipy import ndimage as ndi
    rings = [m for v in _masks_by_image(d).values() for a, m in v if a["category_id"] == 5]
    assert any(ndi.binary_fill_holes(m).sum() > m.sum() * 1.1 for m in rings)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown shape class"):
        synthetic.generate(tmp_path, 1, classes=("hexagon",))
    with pytest.raises(ValueError, match="min_instances"):
        synthetic.generate(tmp_path, 1, min_instances=3, max_instances=2)
