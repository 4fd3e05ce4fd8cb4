"""The classical baseline (Otsu + distance-transform watershed): output contract, that it
separates touching objects, and that it beats trivial predictors."""

import os

import numpy as np
import pytest

pytest.importorskip("skimage")
pytest.importorskip("pycocotools")
try:
    from fassst_rt.train import baseline
    from fassst_rt.train import evaluate as ev
    from fassst_rt.data.synthetic import mask_to_annotation
except ImportError as e:  # fassst_rt needs its compiled core (fassst_rt._C)
    pytest.skip("fassst_rt does not import here ({}); build/install it first".format(e),
                allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools on NumPy 2


def nuclei_like(seed=0, size=(240, 320), pairs=10, singles=10):
    """Bright discs on a dark noisy background; half of them in touching pairs. Ground truth
    pixels go to the nearest disc centre."""
    rng = np.random.default_rng(seed)
    H, W = size
    yy, xx = np.mgrid[0:H, 0:W]
    centres, radii = [], []
    def free(cy, cx, r):
        return all((cy - y) ** 2 + (cx - x) ** 2 > (r + q + 6) ** 2 for (y, x), q in zip(centres, radii))
    tries = 0
    while len(centres) < 2 * pairs + singles and tries < 5000:
        tries += 1
        r = rng.uniform(9, 13)
        cy, cx = rng.uniform(r + 2, H - r - 2), rng.uniform(r + 2, W - r - 2)
        if len(centres) < 2 * pairs:  # a pair: two discs overlapping by ~30 % of a radius
            a = rng.uniform(0, np.pi)
            d = 1.7 * r
            c2 = (cy + d * np.sin(a), cx + d * np.cos(a))
            if not (r + 2 < c2[0] < H - r - 2 and r + 2 < c2[1] < W - r - 2):
                continue
            if not (free(cy, cx, r) and free(c2[0], c2[1], r)):
                continue
            centres += [(cy, cx), c2]
            radii += [r, r]
        elif free(cy, cx, r):
            centres.append((cy, cx))
            radii.append(r)
    d2 = np.stack([(yy - y) ** 2 + (xx - x) ** 2 for y, x in centres])
    inside = d2 <= np.array(radii)[:, None, None] ** 2
    owner = np.argmin(np.where(inside, d2, np.inf), axis=0)
    fg = inside.any(0)
    image = 30 + 8 * rng.standard_normal((H, W))
    image[fg] += 150 + 20 * rng.standard_normal(fg.sum())
    image = np.clip(image, 0, 255).astype(np.uint8)
    anns = []
    for k in range(len(centres)):
        m = fg & (owner == k)
        a = mask_to_annotation(m)
        a.update(id=k + 1, image_id=1, category_id=1)
        anns.append(a)
    gt = ev.load_gt({"images": [{"id": 1, "file_name": "x", "height": H, "width": W}], "annotations": anns,
                     "categories": [{"id": 1, "name": "nucleus"}]})
    return image, gt


def segm_ap(gt, pred, key="AP"):
    return ev.evaluate_predictions(gt, [pred], iou_types=("segm",))["segm"][key]


def test_output_contract():
    image, gt = nuclei_like()
    p = baseline.predict(image, 1, 0, {"min_area": 30})
    k = len(p["scores"])
    assert p["boxes"].shape == (k, 4) and p["masks"].shape == (k,) + image.shape
    assert p["masks"].dtype == bool and p["labels"].tolist() == [0] * k
    assert ((p["scores"] > 0) & (p["scores"] <= 1)).all()
    assert p["masks"].sum(0).max() == 1  # disjoint
    for m, b in zip(p["masks"], p["boxes"]):
        ys, xs = np.nonzero(m)
        np.testing.assert_array_equal(b, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        assert m.sum() >= 30


def test_separates_touching_objects_and_beats_trivial_predictors():
    image, gt = nuclei_like()
    params = {"min_area": 30, "min_distance": 7, "dist_sigma": 1.0}
    p = baseline.predict(image, 1, 0, params)
    ap50 = segm_ap(gt, p, "AP50")
    assert ap50 > 0.9 and segm_ap(gt, p) > 0.6
    # trivial 1: connected components of the same threshold, no watershed split
    cc = baseline.predict(image, 1, 0, dict(params, watershed=False))
    assert len(cc["scores"]) <= len(gt.anns) - 8  # the touching pairs stay merged
    assert segm_ap(gt, cc, "AP50") < ap50 - 0.2
    # trivial 2: one instance covering the frame
    H, W = image.shape
    whole = {"image_id": 1, "boxes": np.array([[0, 0, W, H]], np.float32), "scores": np.ones(1, np.float32),
             "labels": np.zeros(1, np.int64), "masks": np.ones((1, H, W), bool)}
    assert segm_ap(gt, whole) == 0.0


def test_dark_objects_with_dark_polarity():
    image, gt = nuclei_like(seed=3)
    params = {"min_area": 30, "min_distance": 7, "dist_sigma": 1.0}
    bright = baseline.predict(image, 1, 0, params)
    dark = baseline.predict(255 - image, 1, 0, dict(params, polarity="dark"))
    assert len(bright["scores"]) == len(dark["scores"])
    assert segm_ap(gt, dark) == pytest.approx(segm_ap(gt, bright), abs=0.02)
    # the wrong polarity finds the background, not the objects
    wrong = baseline.predict(255 - image, 1, 0, params)
    assert segm_ap(gt, wrong, "AP50") < 0.1


def test_flat_frame_gives_no_instances():
    p = baseline.predict(np.full((50, 60), 40, np.uint8), 7, 1)
    assert p["boxes"].shape == (0, 4) and p["masks"].shape == (0, 50, 60)
    assert ev.evaluate_predictions(
        ev.load_gt({"images": [{"id": 7, "height": 50, "width": 60, "file_name": "x"}], "annotations": [],
                    "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}), [p])["detections"] == 0


def test_on_a_real_test_frame_when_converted():
    from fassst_rt.data import realdata

    root = realdata.cache_dir() / realdata.DEFAULT_DATASET_DIR
    ann = root / "frames_test.json"
    if not ann.is_file():
        pytest.skip("the real data is not converted in {} (run `fassst-rt data fetch`)"
                    .format(root))
    gt = ev.load_gt(str(ann))
    hela = [i for i in sorted(gt.imgs) if gt.imgs[i]["dataset"] == "hela"][:1]
    preds = baseline.predict_coco(gt, str(root), image_ids=hela)
    r = ev.evaluate_predictions(gt, preds, iou_types=("segm",), image_ids=hela)
    assert r["segm"]["AP50"] > 0.6, r
