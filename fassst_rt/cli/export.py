"""``fassst-rt export CHECKPOINT -o NAME.onnx``: a checkpoint to the two ONNX
graphs, checked for parity with PyTorch on real frames
(fassst_rt/train/export.py does the work; PyTorch is imported only there)."""

import json
import os
from typing import Any, Dict, List, Optional

from ..model_files import MAX_OPSET, portable_onnx_path, tail_onnx_path


def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint written by `fassst-rt train`")
    parser.add_argument("-o", "--output", required=True, help="NAME.onnx (NAME.tail.onnx is written beside it)")
    parser.add_argument("--opset", type=int, default=MAX_OPSET, help="ONNX opset (at most {})".format(MAX_OPSET))
    parser.add_argument("--check-images", nargs="*", default=[],
                        help="image files for the parity check (default: frames of the training data)")
    parser.add_argument("--uint16-mapping", default=None,
                        help="JSON rule for 16-bit frames (default: the training data's, if recorded)")
    parser.add_argument("--tile", default=None, help="default tiling SIZE:OVERLAP recorded in the metadata")
    parser.add_argument("--score-threshold", type=float, default=0.3)
    parser.add_argument("--nms-threshold", type=float, default=0.5)
    parser.add_argument("--max-instances", type=int, default=None)
    parser.add_argument("--grid", choices=("square", "stride"), default="square",
                        help="square: the S x S grid of a letterboxed input (default); stride: one cell per "
                             "input_size / S pixels of the frame, one pass per frame (docs/results/dense.md)")
    parser.add_argument("--input-scale", type=float, default=1.0,
                        help="stride grid: the scale frames are resized by (chosen on validation frames)")
    parser.add_argument("--portable", action="store_true",
                        help="also write NAME.portable.onnx: the whole pipeline in one standard-op graph "
                             "(thresholds baked in; docs/portable.md), checked on the same frames")


def _training_info(checkpoint: str) -> Dict[str, Any]:
    from ..train.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    return {"train_config": state.get("train_config", {}), "iteration": state.get("iteration"),
            "metrics": state.get("metrics", {})}


def _default_check_frames(info: Dict[str, Any]) -> List[Any]:
    """A few frames of the training data (its COCO file names them)."""
    from ..opencv_io import read_image

    data = info["train_config"] if isinstance(info["train_config"], dict) else {}
    ann = data.get("val_ann") or data.get("train_ann")
    image_dir = (data.get("val_images") if data.get("val_ann") else data.get("train_images"))
    if not ann or not os.path.isfile(ann):
        return []
    with open(ann) as f:
        images = json.load(f)["images"][:3]
    return [read_image(os.path.join(image_dir or os.path.dirname(ann), im["file_name"])) for im in images]


def _uint16_from_training(info: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    data = info["train_config"] if isinstance(info["train_config"], dict) else {}
    ann = data.get("train_ann")
    if ann and os.path.isfile(ann):
        with open(ann) as f:
            return json.load(f).get("info", {}).get("input_mapping")
    return None


def run(args) -> int:
    from ..atomic import staged_files
    from ..opencv_io import read_image
    from ..train.export import ExportError, export_checkpoint

    info = _training_info(args.checkpoint)
    frames = [read_image(p) for p in args.check_images] or _default_check_frames(info)
    if not frames:
        raise ExportError("no frames for the parity check: pass --check-images FILE ...")
    uint16 = json.loads(args.uint16_mapping) if args.uint16_mapping else _uint16_from_training(info)
    tile = None
    if args.tile:
        size, overlap = (int(v) for v in args.tile.split(":"))
        tile = {"size": size, "overlap": overlap}
    if not args.output.endswith(".onnx"):
        raise ExportError("-o must name NAME.onnx, got {}".format(args.output))
    if args.portable and args.grid == "stride":
        raise ExportError("--portable writes the S x S form only; drop --portable or use --grid square")
    # Every file of the export is written and checked in a staging folder; they are renamed into
    # place together at the end (tail graph, frame graph, portable graph): a failure at any step,
    # the portable graph's parity check included, leaves no model files behind.
    outputs = [tail_onnx_path(args.output), args.output] + ([portable_onnx_path(args.output)] if args.portable else [])
    with staged_files(outputs) as staged:
        metadata = export_checkpoint(args.checkpoint, staged[1], args.opset, frames, uint16=uint16,
                                     tile=tile, score_threshold=args.score_threshold,
                                     nms_threshold=args.nms_threshold, max_instances=args.max_instances,
                                     provenance={"iteration": info["iteration"], "metrics": info["metrics"]},
                                     grid=args.grid, input_scale=args.input_scale)
        if args.portable:
            from ..train.portable import export_portable
            export_portable(staged[1], staged[2], args.score_threshold, args.nms_threshold,
                            args.max_instances, check_frames=frames)
    print("exported {} and {} ({} classes, input {}); parity with PyTorch checked on {} frames".format(
        args.output, tail_onnx_path(args.output), len(metadata.class_names), metadata.input_size, len(frames)))
    if args.portable:
        print("exported {} (one graph; parity with the two-graph runtime checked)".format(outputs[2]))
    return 0
