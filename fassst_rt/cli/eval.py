"""``fassst-rt eval``: COCO bbox and segm AP of a model on a COCO data set.

The model runs through the runtime (``Segmenter``: the same letterbox,
selection, RFF kernel, tiling and mask pasting users get), on whole frames;
``--baseline`` evaluates the classical Otsu + watershed baseline instead.

    fassst-rt eval --model engines/fassst_default.onnx --ann DATA/test.json --images DATA/images
"""

import os
import time
from typing import Any, Dict, List, Optional

from ..opencv_io import read_image
from ..segmenter import Segmenter
from ..train.evaluate import evaluate_by_group, format_table, load_gt, write_json


def predict_with_model(model: str, coco_gt, image_dir: str, score_threshold: Optional[float] = None,
                       tile=None, progress: bool = True, boxes: str = "regressed") -> List[Dict[str, Any]]:
    """Runs ``model`` on every image of ``coco_gt``; prediction dicts for
    :func:`evaluate_predictions`. ``boxes``: "regressed" (the network's) or
    "masks" (the pasted masks' tight boxes, Instances.boxes_from_masks)."""
    if boxes not in ("regressed", "masks"):
        raise ValueError("boxes must be 'regressed' or 'masks', got {!r}".format(boxes))
    gt = load_gt(coco_gt)
    predictions = []
    with Segmenter(model, device="auto", score_threshold=score_threshold, tile=tile) as seg:
        images = sorted(gt.dataset["images"], key=lambda im: im["id"])
        iterator = images
        if progress:
            try:
                from tqdm import tqdm
                iterator = tqdm(images, unit="img", desc="eval")
            except ImportError:
                pass
        for image in iterator:
            frame = read_image(os.path.join(image_dir, image["file_name"]))
            result = seg.run(frame)
            box = result.boxes_from_masks() if boxes == "masks" else result.boxes
            predictions.append({"image_id": image["id"], "boxes": box, "scores": result.scores,
                                "labels": result.labels, "masks": result.masks})
    return predictions


def add_arguments(parser) -> None:
    parser.add_argument("--model", help="NAME.onnx or NAME.plan (not needed with --baseline)")
    parser.add_argument("--ann", required=True, help="COCO annotation file of the evaluation frames")
    parser.add_argument("--images", help="folder the annotation's file names are relative to "
                        "(default: the annotation file's folder)")
    parser.add_argument("--baseline", action="store_true",
                        help="evaluate the classical Otsu + watershed baseline instead of a model")
    parser.add_argument("--score-threshold", type=float, default=0.05,
                        help="keep detections down to this score (low: AP integrates over scores)")
    parser.add_argument("--tile", default=None, help="SIZE:OVERLAP, 'none', or the model's default")
    parser.add_argument("--boxes", choices=("regressed", "masks"), default="regressed",
                        help="boxes for bbox AP: the network's regressed boxes, or the pasted masks' tight boxes")
    parser.add_argument("--group-by", default="dataset", help="image field to report groups by")
    parser.add_argument("--json", dest="json_out", help="write the results here")


def run(args) -> int:
    image_dir = args.images or os.path.dirname(os.path.abspath(args.ann))
    gt = load_gt(args.ann)
    t0 = time.perf_counter()
    if args.baseline:
        from ..train.baseline import predict_coco
        predictions = predict_coco(gt, image_dir)
        what = "baseline (Otsu + distance-transform watershed)"
    else:
        if not args.model:
            raise ValueError("--model is required (or --baseline)")
        tile = None
        if args.tile:
            tile = False if args.tile == "none" else tuple(int(v) for v in args.tile.split(":"))
        predictions = predict_with_model(args.model, gt, image_dir, args.score_threshold, tile, boxes=args.boxes)
        what = args.model
    results = evaluate_by_group(gt, predictions, key=args.group_by)
    seconds = time.perf_counter() - t0
    print(format_table(results, title="{} on {} ({} images, {:.0f} s)".format(
        what, args.ann, len(gt.dataset["images"]), seconds)))
    if args.json_out:
        extra = {} if args.baseline else {"boxes": args.boxes}
        write_json(results, args.json_out, extra={"model": what, "ann": args.ann, **extra,
                                                   "score_threshold": args.score_threshold,
                                                   "seconds": seconds})
    return 0

