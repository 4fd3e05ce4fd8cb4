"""Whole-frame speed of a float model and its INT8 forms, side by side in one
process (fps_bench.side_by_side: alternating blocks of 4 runs, the first of
each block discarded; medians), with the same threads:

- ``readme_frame``: ``Segmenter.run`` + mask paste with the runtime's defaults
  (the model's tiling and thresholds) on one real frame, by default the
  README's HeLa test frame (hela_t15.png, 1100 x 700: 45 tiles of 192 px for
  the shipped model): what `fassst-rt segment` does per frame;
- ``untiled_k8``: fps.py's whole frame (tiling off, the frame letterboxed to
  one input, exactly K = 8 instances through RFF and the tail);
- ``frame_graph_batch``: the frame graph alone on that frame's tiles (one
  ``run_frame`` call per batch of the Segmenter's max_batch tiles);
- and, after those, the README frame's stages by the Segmenter's own timers
  (preprocess, frame, select, rff_tail) and the mask paste, per model.

    python benchmarks/precision_speed.py engines/fassst_default.onnx build/int8/cpu.onnx \
        build/int8/tensorrt.onnx --runs 30 --json benchmarks/results/int8_cpu.json

The first model is the reference of the ratios. Make the INT8 models with
`fassst-rt quantize` (docs/model_files.md). ONNX Runtime's spinning is the
backend's default (off).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from fps_bench.conditions import conditions, load_average  # noqa: E402
from fps_bench.frames import data_dir  # noqa: E402
from fps_bench.side_by_side import time_models  # noqa: E402
from fps_bench.stage_timing import Pipeline  # noqa: E402


def describe(path):
    from fassst_rt import Segmenter
    from fassst_rt.quantize.targets import precision_of

    with Segmenter(path, device="cpu") as seg:
        record = precision_of(seg.metadata)
    if record is None:
        return "float32"
    return "int8 --target {} ({} activations)".format(record.get("target"), record.get("activations"))


def stage_medians(seg, frame, runs):
    """The Segmenter's own stage timers for the frame, and the mask paste,
    medians over ``runs`` runs of this model alone."""
    rows = []
    for _ in range(runs):
        result = seg.run(frame)
        result.masks  # the paste, timed by Instances itself ("paste")
        rows.append({k: float(v) for k, v in result.timings.items() if k != "tiles"})
    return {k: float(np.median([r[k] for r in rows])) for k in rows[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="NAME.onnx models; the first is the reference")
    parser.add_argument("--frame", default=None, help="image file (default: the README's hela_t15.png)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per model and measurement")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    from fassst_rt import Segmenter, ops
    from fassst_rt.opencv_io import read_image
    from fassst_rt.quantize.calibration import network_inputs

    threads = args.threads or os.cpu_count() or 1
    frame_path = args.frame or os.path.join(data_dir(), "frames", "hela_t15.png")
    frame = read_image(frame_path)
    ops.set_num_threads(threads)
    segs = {p: Segmenter(p, device="cpu", num_threads=threads) for p in args.models}
    pipes = {p: Pipeline(p, "auto", "cpu", threads, 8) for p in args.models}
    tiles = {p: network_inputs(s, [frame]) for p, s in segs.items()}
    machine = conditions(threads, "onnxruntime", ["CPUExecutionProvider"])  # load average before the runs

    def readme_frame(seg):
        return lambda: seg.run(frame).masks

    def frame_graph(seg, x):
        batch = seg.max_batch
        return lambda: [seg.backend.run_frame(x[i:i + batch]) for i in range(0, len(x), batch)]

    measurements = {
        "readme_frame": {p: readme_frame(s) for p, s in segs.items()},
        "untiled_k8": {p: (lambda pipe: lambda: pipe.whole_frame(frame))(pipes[p]) for p in args.models},
        "frame_graph_batch": {p: frame_graph(s, tiles[p]) for p, s in segs.items()},
    }
    t0 = time.time()
    results = {}
    for name, runs in measurements.items():
        res = time_models(runs, args.runs)
        ref = res[args.models[0]]["median"]
        results[name] = {p: {"median_ms": r["median"], "p90_ms": r["p90"], "speedup_vs_first": ref / r["median"]}
                         for p, r in res.items()}
    seconds = time.time() - t0
    tiles_run = int(segs[args.models[0]].run(frame).timings.get("tiles", 1))
    stages = {p: stage_medians(s, frame, max(5, args.runs // 3)) for p, s in segs.items()}
    doc = {
        "what": "whole-frame speed side by side (benchmarks/precision_speed.py)",
        "frame": {"path": os.path.basename(frame_path), "shape": list(frame.shape), "tiles": tiles_run},
        "models": {p: describe(p) for p in args.models},
        "runs": args.runs, "seconds": seconds,
        "results": results,
        "readme_frame_stages_ms": stages,
        "conditions": dict(machine, load_average_after=load_average()),
    }
    print("{} ({}, {} tiles), {} threads, {} runs each, medians in ms (speed-up vs {}):".format(
        os.path.basename(frame_path), "x".join(map(str, frame.shape[:2])), tiles_run, threads, args.runs,
        os.path.basename(args.models[0])))
    for name, rows in results.items():
        print("  " + name)
        for p, r in rows.items():
            print("    {:<40s} {:8.2f}  {:5.2f}x   {}".format(os.path.basename(p), r["median_ms"],
                                                             r["speedup_vs_first"], doc["models"][p]))
    print("  readme_frame by stage (the Segmenter's timers, medians, ms; after the side-by-side runs)")
    for p, st in stages.items():
        print("    {:<40s} {}".format(os.path.basename(p), ", ".join("{} {:.1f}".format(k, v) for k, v in st.items())))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o))
    for seg in segs.values():
        seg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
