"""``fassst-rt quantize NAME.onnx -o NAME_int8.onnx --calib DATA``: an INT8
model (both graphs) calibrated on real frames (fassst_rt/quantize/ does the
work; onnx and onnxruntime.quantization are imported only when it runs)."""

import argparse
import functools


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..quantize.layers import ROLES
    from ..quantize.targets import TARGETS

    parser.add_argument("onnx", help="the float model NAME.onnx (NAME.tail.onnx beside it)")
    parser.add_argument("-o", "--output", required=True,
                        help="the INT8 model to write, e.g. NAME_int8.onnx (its .tail.onnx beside it)")
    parser.add_argument("--calib", required=True,
                        help="calibration frames: a folder of images, a COCO .json file or a video; training "
                             "frames, never the frames you evaluate on")
    parser.add_argument("--target", choices=sorted(TARGETS), default="cpu",
                        help="; ".join("{}: {}".format(k, t.description) for k, t in sorted(TARGETS.items()))
                        + " (default %(default)s)")
    parser.add_argument("--frames", type=int, default=24, help="calibration frames read (default %(default)s)")
    parser.add_argument("--inputs", type=int, default=256,
                        help="frame-graph inputs (tiles) calibrated on, spread over the frames (default %(default)s)")
    parser.add_argument("--rois", type=int, default=2048,
                        help="tail inputs (fused ROI features) calibrated on (default %(default)s)")
    parser.add_argument("--method", choices=["minmax", "percentile", "entropy"], default="minmax",
                        help="calibration method (default %(default)s)")
    parser.add_argument("--score-threshold", type=float, default=None,
                        help="select the tail's calibration instances at this score (default: the model's)")
    parser.add_argument("--float", dest="float_roles", default=None, metavar="ROLES",
                        help="comma-separated layer roles kept in float instead of the target's default "
                             "('none' for none): " + ", ".join(ROLES))
    parser.add_argument("--float-node", dest="float_nodes", action="append", default=[], metavar="NAME",
                        help="also keep this node in float (repeatable; the exported graph's node names as "
                             "Netron shows them, e.g. /iam/predict/Conv; an unknown name is an error)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ..quantize import quantize_model

    roles = None
    if args.float_roles is not None:
        roles = [] if args.float_roles in ("", "none") else [r.strip() for r in args.float_roles.split(",")]
    quantize_model(args.onnx, args.output, args.calib, args.target, frames=args.frames, max_inputs=args.inputs,
                   max_rois=args.rois, method=args.method, float_roles=roles, float_nodes=args.float_nodes,
                   score_threshold=args.score_threshold, progress=not args.no_progress,
                   report=functools.partial(print, flush=True))
    return 0
