"""COCO evaluation: AP read from eval['precision'] at a raised maxDets, checked against hand
computation, against COCOeval.summarize() where that is valid, and for sanity."""

import contextlib
import io
import json
import math

import numpy as np
import pytest

pytest.importorskip("pycocotools")
try:
    from fassst_rt.train import evaluate as ev
    from fassst_rt.data.synthetic import mask_to_annotation
except ImportError as e:  # fassst_rt needs its compiled core (fassst_rt._C)
    pytest.skip("fassst_rt does not import here ({}); build/install it first".format(e),
                allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools on NumPy 2
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def dense_gt(num_images=2, per_image=150, size=(200, 300), seed=0, classes=("a", "b")):
    """Many small disjoint square-ish objects per image (more than COCO's 100 detections)."""
    rng = np.random.default_rng(seed)
    h, w = size
    images, anns = [], []
    for i in range(num_images):
        images.append({"id": i + 1, "file_name": "{}.png".format(i), "height": h, "width": w,
                       "dataset": "even" if i % 2 == 0 else "odd"})
        cells = [(y, x) for y in range(0, h - 12, 13) for x in range(0, w - 12, 13)]
        for j in rng.permutation(len(cells))[:per_image]:
            y, x = cells[j]
            m = np.zeros(size, bool)
            hh, ww = rng.integers(4, 12, 2)
            m[y:y + hh, x:x + ww] = True
            a = mask_to_annotation(m)
            a.update(id=len(anns) + 1, image_id=i + 1, category_id=1 + int(rng.integers(len(classes))))
            anns.append(a)
    d = {"images": images, "annotations": anns,
         "categories": [{"id": k + 1, "name": c} for k, c in enumerate(classes)]}
    return ev.load_gt(d)


def gt_predictions(gt, keep=lambda ann: True, score=lambda ann: 1.0):
    preds = []
    for img_id in sorted(gt.imgs):
        anns = [a for a in gt.imgToAnns[img_id] if keep(a)]
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                          for a in anns], np.float32).reshape(-1, 4)
        masks = np.stack([gt.annToMask(a).astype(bool) for a in anns]) if anns else \
            np.zeros((0, gt.imgs[img_id]["height"], gt.imgs[img_id]["width"]), bool)
        preds.append({"image_id": img_id, "boxes": boxes, "scores": np.array([score(a) for a in anns], np.float32),
                      "labels": np.array([a["category_id"] - 1 for a in anns], np.int64), "masks": masks})
    return preds


def test_ground_truth_as_predictions_gives_ap_one_beyond_100_detections():
    gt = dense_gt(classes=("nucleus",))  # maxDets counts per image and category
    assert all(len(gt.imgToAnns[i]) == 150 for i in gt.imgs)
    r = ev.evaluate_predictions(gt, gt_predictions(gt))
    for t in ("bbox", "segm"):
        assert r[t]["AP"] == pytest.approx(1.0)
        assert r[t]["AP50"] == pytest.approx(1.0) and r[t]["AP75"] == pytest.approx(1.0)
        assert r[t]["AR"] == pytest.approx(1.0)
        assert r[t]["APs"] == pytest.approx(1.0)  # all objects are small (< 32^2)
        assert math.isnan(r[t]["APm"]) and math.isnan(r[t]["APl"])
    assert r["instances"] == 300 and r["detections"] == 300
    # The trap this avoids: COCOeval's default maxDets (..., 100) and summarize() cap recall
    # at 100 of the 150 objects of one class per image.
    res = gt.loadRes([{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
                       "score": 1.0} for a in gt.dataset["annotations"]])
    E = COCOeval(gt, res, "bbox")
    with contextlib.redirect_stdout(io.StringIO()):
        E.evaluate(), E.accumulate(), E.summarize()
    assert E.stats[0] < 0.8


def test_dropping_half_of_the_ground_truth_lowers_recall_and_ap():
    gt = dense_gt()
    r = ev.evaluate_predictions(gt, gt_predictions(gt, keep=lambda a: a["id"] % 2 == 0))
    for t in ("bbox", "segm"):
        assert r[t]["AR"] == pytest.approx(0.5, abs=0.02)
        assert 0.4 < r[t]["AP"] < 0.6


def test_hand_computed_ap_with_a_higher_scored_false_positive():
    # Two objects; the detections: a false positive (score 0.9) then one exact hit (0.8).
    # Precision at recall 0.5 is 1/2 and recall 1 is never reached: over COCO's 101 recall
    # points, AP = 51 * 0.5 / 101 at every IoU threshold.
    size = (60, 60)
    ms = [np.zeros(size, bool) for _ in range(3)]
    ms[0][5:20, 5:20] = True
    ms[1][30:50, 30:55] = True
    ms[2][5:15, 40:55] = True  # the false positive, on background
    anns = []
    for k in range(2):
        a = mask_to_annotation(ms[k])
        a.update(id=k + 1, image_id=1, category_id=1)
        anns.append(a)
    gt = ev.load_gt({"images": [{"id": 1, "height": 60, "width": 60, "file_name": "x"}], "annotations": anns,
                     "categories": [{"id": 1, "name": "c"}]})
    boxes = np.array([[40, 5, 55, 15], [5, 5, 20, 20]], np.float32)
    pred = {"image_id": 1, "boxes": boxes, "scores": np.array([0.9, 0.8], np.float32),
            "labels": np.array([0, 0]), "masks": np.stack([ms[2], ms[0]])}
    r = ev.evaluate_predictions(gt, [pred])
    for t in ("bbox", "segm"):
        assert r[t]["AP"] == pytest.approx(51 * 0.5 / 101)
        assert r[t]["AR"] == pytest.approx(0.5)


def test_equals_summarize_when_there_are_at_most_100_detections():
    gt = dense_gt(num_images=3, per_image=40, seed=2)
    rng = np.random.default_rng(1)
    preds = gt_predictions(gt, keep=lambda a: rng.random() < 0.8, score=lambda a: float(rng.random()))
    for p in preds:  # jitter the boxes and add false positives
        p["boxes"] = p["boxes"] + rng.normal(0, 0.7, p["boxes"].shape).astype(np.float32)
        fp = np.array([[100, 100, 110, 108]], np.float32)
        p["boxes"] = np.concatenate([p["boxes"], fp])
        p["scores"] = np.concatenate([p["scores"], [0.95]]).astype(np.float32)
        p["labels"] = np.concatenate([p["labels"], [1]])
    r = ev.evaluate_predictions(gt, preds, iou_types=("bbox",), max_dets=(1, 10, 100))
    res = gt.loadRes(ev.to_coco_results(gt, preds, "bbox"))
    E = COCOeval(gt, res, "bbox")
    with contextlib.redirect_stdout(io.StringIO()):
        E.evaluate(), E.accumulate(), E.summarize()
    ours = [r["bbox"][k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")]
    theirs = [v if v > -1 else float("nan") for v in E.stats[:6]]
    np.testing.assert_allclose(ours, theirs, equal_nan=True)
    assert r["bbox"]["AR"] == pytest.approx(E.stats[8])
    assert 0.2 < r["bbox"]["AP"] < 0.95


def test_missing_images_count_as_misses_and_groups():
    gt = dense_gt(num_images=2, per_image=30)
    preds = gt_predictions(gt)
    only_first = [p for p in preds if p["image_id"] == 1]
    r = ev.evaluate_predictions(gt, only_first)
    assert r["segm"]["AR"] == pytest.approx(0.5, abs=0.05)
    g = ev.evaluate_by_group(gt, only_first, key="dataset")
    assert g["even"]["segm"]["AP"] == pytest.approx(1.0)
    assert g["odd"]["segm"]["AP"] == pytest.approx(0.0)
    assert g["even"]["images"] == 1 and g["all"]["images"] == 2
    table = ev.format_table(g)
    assert "even" in table and "odd" in table and "100.0" in table


def test_empty_predictions_and_json(tmp_path):
    gt = dense_gt(num_images=1, per_image=5)
    r = ev.evaluate_predictions(gt, [])
    assert r["segm"]["AP"] == 0.0 and r["detections"] == 0
    ev.write_json(r, tmp_path / "r.json", {"command": "test"})
    doc = json.load(open(tmp_path / "r.json"))
    assert doc["command"] == "test" and doc["results"]["segm"]["APm"] is None  # NaN -> null


def test_bad_predictions_are_rejected_clearly():
    gt = dense_gt(num_images=1, per_image=3)
    p = gt_predictions(gt)[0]
    with pytest.raises(ValueError, match="image_id 99"):
        ev.evaluate_predictions(gt, [dict(p, image_id=99)], image_ids=[1, 99])
    with pytest.raises(ValueError, match="labels must be 0..1"):
        ev.evaluate_predictions(gt, [dict(p, labels=p["labels"] + 5)])
    with pytest.raises(ValueError, match="masks must be"):
        ev.evaluate_predictions(gt, [dict(p, masks=p["masks"][:, :10])])
    with pytest.raises(ValueError, match="needs 'masks' or 'rles'"):
        ev.evaluate_predictions(gt, [{k: v for k, v in p.items() if k != "masks"}])
    assert ev.evaluate_predictions(gt, [{k: v for k, v in p.items() if k != "masks"}],
                                   iou_types=("bbox",))["bbox"]["AP"] == pytest.approx(1.0)
