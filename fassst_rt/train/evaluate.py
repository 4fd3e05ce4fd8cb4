"""COCO bbox and segm evaluation of instance predictions with pycocotools' COCOeval.

Independent of how predictions were made: a prediction is one dict per image,
``{"image_id", "boxes" (K, 4) x1, y1, x2, y2 in frame pixels, "scores" (K,), "labels" (K,)
0-based, "masks" (K, H, W) bool}`` (``masks`` may be replaced by ``"rles"``, a list of K COCO
RLE dicts, and may be left out for bbox-only evaluation). Label i is the i-th category of the
ground truth sorted by id.

``COCOeval.summarize()`` reports AP at 100 detections per image whatever ``params.maxDets``
says, and these frames hold up to ~200 objects; so ``maxDets`` is raised (default
[1, 100, 1000]) and every number is read from ``E.eval['precision']`` / ``E.eval['recall']``
at the largest maxDets, the way summarize() computes them: AP = mean precision over the IoU
thresholds 0.50:0.05:0.95 and the 101 recall points (entries of -1, i.e. categories without
ground truth, left out), AP50 / AP75 at one IoU threshold, APs/m/l for areas < 32^2,
32^2..96^2, > 96^2 pixels, AR the mean recall over IoU thresholds. Undefined values are NaN
(null in JSON).
"""

import contextlib
import copy
import io
import json
import math
from typing import Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from ..atomic import atomic_write_text

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR")
DEFAULT_MAX_DETS = (1, 100, 1000)


def load_gt(coco_gt):
    """A pycocotools COCO object from a COCO object, a path or a dataset dict."""
    from pycocotools.coco import COCO

    if isinstance(coco_gt, COCO):
        return coco_gt
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(coco_gt, dict):
            gt = COCO()
            gt.dataset = copy.deepcopy(coco_gt)
            gt.createIndex()
            return gt
        return COCO(str(coco_gt))


def _as_numpy(x):
    if x is None:
        return None
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def to_coco_results(coco_gt, predictions: Iterable[Dict], iou_type: str = "segm") -> List[Dict]:
    """COCO result annotations (with ids, areas and, for segm, RLEs) of the predictions."""
    from pycocotools import mask as mask_utils

    gt = load_gt(coco_gt)
    cat_ids = sorted(gt.getCatIds())
    results = []
    for pred in predictions:
        image_id = int(pred["image_id"])
        if image_id not in gt.imgs:
            raise ValueError("prediction for image_id {} which the ground truth does not have".format(image_id))
        img = gt.imgs[image_id]
        boxes = _as_numpy(pred["boxes"]).astype(np.float64).reshape(-1, 4)
        scores = _as_numpy(pred["scores"]).astype(np.float64).reshape(-1)
        labels = _as_numpy(pred["labels"]).astype(np.int64).reshape(-1)
        k = len(boxes)
        if len(scores) != k or len(labels) != k:
            raise ValueError("image {}: boxes ({}), scores ({}) and labels ({}) differ in length"
                             .format(image_id, k, len(scores), len(labels)))
        if k and (labels.min() < 0 or labels.max() >= len(cat_ids)):
            raise ValueError("image {}: labels must be 0..{} (the {} categories), got {}..{}"
                             .format(image_id, len(cat_ids) - 1, len(cat_ids), labels.min(), labels.max()))
        rles = None
        if iou_type == "segm":
            if "rles" in pred and pred["rles"] is not None:
                rles = list(pred["rles"])
            elif "masks" in pred and pred["masks"] is not None:
                masks = _as_numpy(pred["masks"])
                if masks.shape != (k, img["height"], img["width"]):
                    raise ValueError("image {}: masks must be (K, H, W) = {}, got {}".format(
                        image_id, (k, img["height"], img["width"]), masks.shape))
                rles = mask_utils.encode(np.asfortranarray(masks.astype(np.uint8).transpose(1, 2, 0))) if k else []
            else:
                raise ValueError("image {}: segm evaluation needs 'masks' or 'rles'".format(image_id))
            if len(rles) != k:
                raise ValueError("image {}: {} rles for {} boxes".format(image_id, len(rles), k))
        for j in range(k):
            x1, y1, x2, y2 = boxes[j]
            ann = {"image_id": image_id, "category_id": cat_ids[int(labels[j])], "score": float(scores[j]),
                   "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)], "iscrowd": 0}
            if iou_type == "segm":
                ann["segmentation"] = rles[j]
                ann["area"] = float(mask_utils.area(rles[j]))
            else:
                ann["area"] = float(max(0.0, x2 - x1) * max(0.0, y2 - y1))
            ann["id"] = len(results) + 1
            results.append(ann)
    return results


def _results_coco(gt, anns: List[Dict]):
    from pycocotools.coco import COCO

    res = COCO()
    res.dataset = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]),
                   "annotations": anns}
    with contextlib.redirect_stdout(io.StringIO()):
        res.createIndex()
    return res


def _mean_valid(a: np.ndarray) -> float:
    v = a[a > -1]
    return float(np.mean(v)) if v.size else float("nan")


def metrics_from_eval(E, per_class_names: Optional[Sequence[str]] = None) -> Dict:
    """AP, AP50, AP75, APs, APm, APl, AR (and AR at each maxDets, per-class AP) read from a
    COCOeval after accumulate(), at its largest maxDets."""
    p = E.params
    prec = E.eval["precision"]  # (T, R, K, A, M)
    rec = E.eval["recall"]      # (T, K, A, M)
    m = int(np.argmax(p.maxDets))
    area = {lbl: i for i, lbl in enumerate(p.areaRngLbl)}
    a_all = area["all"]
    t50 = int(np.flatnonzero(np.isclose(p.iouThrs, 0.5))[0])
    t75 = int(np.flatnonzero(np.isclose(p.iouThrs, 0.75))[0])
    out = {
        "AP": _mean_valid(prec[:, :, :, a_all, m]),
        "AP50": _mean_valid(prec[t50, :, :, a_all, m]),
        "AP75": _mean_valid(prec[t75, :, :, a_all, m]),
        "APs": _mean_valid(prec[:, :, :, area["small"], m]),
        "APm": _mean_valid(prec[:, :, :, area["medium"], m]),
        "APl": _mean_valid(prec[:, :, :, area["large"], m]),
        "AR": _mean_valid(rec[:, :, a_all, m]),
    }
    for i, md in enumerate(p.maxDets):
        out["AR@{}".format(md)] = _mean_valid(rec[:, :, a_all, i])
    out["AR50"] = _mean_valid(rec[t50, :, a_all, m])
    if per_class_names is not None:
        out["per_class_AP"] = {name: _mean_valid(prec[:, :, k, a_all, m])
                               for k, name in enumerate(per_class_names)}
    return out


def evaluate_predictions(coco_gt, predictions: Sequence[Dict], iou_types: Sequence[str] = ("bbox", "segm"),
                         max_dets: Sequence[int] = DEFAULT_MAX_DETS,
                         image_ids: Optional[Sequence[int]] = None) -> Dict:
    """COCO metrics of ``predictions`` against ``coco_gt`` (a COCO object, an annotation file
    path or a dataset dict), over ``image_ids`` (default: all images of the ground truth; an
    image without a prediction counts as one with no detections).

    Returns ``{"bbox": {metric: value}, "segm": {...}, "images": n, "instances": gt count,
    "detections": count, "max_dets": [...]}`` with values in [0, 1] (NaN where undefined)."""
    from pycocotools.cocoeval import COCOeval

    gt = load_gt(coco_gt)
    ids = sorted(gt.getImgIds()) if image_ids is None else sorted(int(i) for i in image_ids)
    wanted = set(ids)
    preds = [p for p in predictions if int(p["image_id"]) in wanted]
    cat_ids = sorted(gt.getCatIds())
    names = [gt.cats[c]["name"] for c in cat_ids]
    out: Dict = {"images": len(ids),
                 "instances": len(gt.getAnnIds(imgIds=ids, iscrowd=False)),
                 "detections": int(sum(len(_as_numpy(p["scores"]).reshape(-1)) for p in preds)),
                 "max_dets": [int(m) for m in sorted(max_dets)]}
    for iou_type in iou_types:
        if iou_type not in ("bbox", "segm"):
            raise ValueError("iou_type must be 'bbox' or 'segm', got {!r}".format(iou_type))
        res = _results_coco(gt, to_coco_results(gt, preds, iou_type))
        E = COCOeval(gt, res, iou_type)
        E.params.imgIds = ids
        E.params.maxDets = [int(m) for m in sorted(max_dets)]
        with contextlib.redirect_stdout(io.StringIO()):
            E.evaluate()
            E.accumulate()
        out[iou_type] = metrics_from_eval(E, names)
    return out


def evaluate_by_group(coco_gt, predictions: Sequence[Dict], key: str = "dataset", **kwargs) -> Dict:
    """:func:`evaluate_predictions` over all images ("all") and over each group of images that
    share the value of the image field ``key`` (e.g. "hela", "bacteria")."""
    gt = load_gt(coco_gt)
    groups: Dict[str, List[int]] = {}
    for img in gt.dataset["images"]:
        if key in img:
            groups.setdefault(str(img[key]), []).append(img["id"])
    out = {"all": evaluate_predictions(gt, predictions, **kwargs)}
    if len(groups) > 1 or (groups and sum(map(len, groups.values())) != len(gt.imgs)):
        for name, ids in sorted(groups.items()):
            out[name] = evaluate_predictions(gt, predictions, image_ids=ids, **kwargs)
    return out


def _fmt(v) -> str:
    return "   -" if v is None or (isinstance(v, float) and math.isnan(v)) else "{:5.1f}".format(100 * v)


def format_table(results: Dict, title: str = "") -> str:
    """A printable table (values x 100) of :func:`evaluate_predictions` results, or of
    :func:`evaluate_by_group` results (one block of rows per group)."""
    grouped = "all" in results and isinstance(results["all"], dict) and "images" in results["all"]
    groups = results if grouped else {"": results}
    lines = [title] if title else []
    lines.append("{:<10} {:<5} {:>6} {:>6} {:>6} ".format("group", "type", "images", "inst", "dets")
                 + " ".join("{:>5}".format(m) for m in METRICS)
                 + "   (maxDets {})".format(next(iter(groups.values()))["max_dets"][-1]))
    for name, r in groups.items():
        for t in ("bbox", "segm"):
            if t in r:
                lines.append("{:<10} {:<5} {:>6} {:>6} {:>6} ".format(name or "all", t, r["images"], r["instances"],
                                                                    r["detections"])
                             + " ".join(_fmt(r[t][m]) for m in METRICS))
    return "\n".join(lines)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_json(results: Dict, path, extra: Optional[Dict] = None) -> None:
    """Writes results (NaN as null), with ``extra`` fields (e.g. the command, the model)."""
    doc = dict(extra or {})
    doc["results"] = results
    atomic_write_text(path, json.dumps(_jsonable(doc), indent=1))
