"""What the memory budget's estimates stand for, re-measured: how much a
process's peak RSS grows per image of a frame-graph call and per instance of
a tail call (ONNX Runtime, CPU), next to the estimates the core's
MemoryBudget uses (csrc/core/memory_budget.cpp), and what the ROI kernels'
per-thread scratch keeps after a call over a whole large map.

    python benchmarks/memory_working_set.py [--model M] [--threads N] [--map-side PX] [--json OUT]

Each measurement runs in a fresh subprocess (peak RSS only grows) and reads
VmHWM, the peak of its own address space.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The peak RSS of the script's own process, in KiB.
PEAK_KIB = r"""
def peak_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
"""

# Peak RSS growth of one run whose frame is cut into `tiles` tiles, all in
# one call (max_batch = tiles, a budget too large to shrink it).
FRAME = r"""
import sys
import numpy as np
from fassst_rt import Segmenter
model, tiles, threads, side = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
seg = Segmenter(model, max_batch=max(tiles, 1), memory_budget_mib=1 << 16, num_threads=threads,
                tile=(side, side // 4))
seg.run(np.full((side, side, 3), 30, np.uint8))
before = peak_kib()
frame = np.full((side, side * tiles - (seg.tile[1] * (tiles - 1)), 3), 30, np.uint8)
inst = seg.run(frame)
assert int(inst.timings.get("tiles", 1)) == tiles, inst.timings
print((peak_kib() - before) * 1024)
"""

# Peak RSS growth of one tail call on `count` instances of random features.
TAIL = r"""
import sys
import numpy as np
import onnxruntime as ort
tail, count, threads, m, r = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
so = ort.SessionOptions()
so.intra_op_num_threads = threads
s = ort.InferenceSession(tail, so, providers=["CPUExecutionProvider"])
name = s.get_inputs()[0].name
x = np.random.default_rng(0).random((count, m, r, r), dtype=np.float32)
s.run(None, {name: x[:1]})
before = peak_kib()
s.run(None, {name: x})
print((peak_kib() - before) * 1024)
"""

# RSS kept by the ROI kernels' per-thread scratch after a fusion over whole
# maps of `side` pixels, once smaller calls follow.
SCRATCH = r"""
import sys
import numpy as np
import fassst_rt.ops as ops
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
side, threads = int(sys.argv[1]), int(sys.argv[2])
ops.set_num_threads(threads)
p = [np.ones((1, 16, side // k, side // k), np.float32) for k in (1, 2, 4)]
small = np.array([[0, 0, 0, 64, 64]], np.float32)
whole = np.array([[0, 0, 0, side * 8, side * 8]] * 4, np.float32)
ops.roi_fuse(*p, small, 28)
before = rss()
ops.roi_fuse(*p, whole, 28)
ops.roi_fuse(*p, small, 28)
print(rss() - before, sum(x.nbytes for x in p))
"""


def run(script, *args):
    command = [sys.executable, "-c", PEAK_KIB + script, *map(str, args)]
    out = subprocess.run(command, capture_output=True, text=True,
                         check=False, cwd=str(ROOT / "benchmarks"))
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return [int(v) for v in out.stdout.split()]


def slope(points):
    (x0, y0), (x1, y1) = points[0], points[-1]
    return (y1 - y0) / (x1 - x0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "engines" / "fassst_default.onnx"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--map-side", type=int, default=1600, help="the largest pyramid map's side for the scratch row")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    args.model = str(Path(args.model).resolve())  # the measurements run from benchmarks/

    from fassst_rt import Segmenter
    with Segmenter(args.model, num_threads=1) as seg:
        meta = seg.metadata
    tail = str(Path(args.model).with_suffix(".tail.onnx"))
    s, m, r = meta.input_size, meta.mask_channels, meta.roi_size
    # the estimates of csrc/core/memory_budget.cpp, from the model's shape
    input_bytes = 3 * s * s * 4
    pyramid = sum(m * (int(s / st) + 1) ** 2 * 4 for st in meta.strides)
    estimate_image = 20 * input_bytes + pyramid
    estimate_instance = 12 * m * r * r * 4 + (2 * r) ** 2 * 4 + 20

    frame_points = [(t, run(FRAME, args.model, t, args.threads, s)[0]) for t in (4, 32)]
    tail_points = [(k, run(TAIL, tail, k, args.threads, m, r)[0]) for k in (64, 512)]
    kept, maps = run(SCRATCH, args.map_side, args.threads)
    rows = {
        "frame_graph_bytes_per_image": {"measured": slope(frame_points), "estimate": estimate_image},
        "tail_bytes_per_instance": {"measured": slope(tail_points), "estimate": estimate_instance},
        "kernel_scratch_kept_after_whole_map_fusion": {"measured": kept, "maps": maps},
    }
    mib = 2.0 ** 20
    print("{:<44} {:>12} {:>12}".format("", "measured MiB", "estimate MiB"))
    for name in ("frame_graph_bytes_per_image", "tail_bytes_per_instance"):
        print("{:<44} {:>12.3f} {:>12.3f}".format(name, rows[name]["measured"] / mib, rows[name]["estimate"] / mib))
    print("{:<44} {:>12.3f}   (maps: {:.0f} MiB)".format("kernel scratch kept after a whole-map fusion",
                                                         kept / mib, maps / mib))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "threads": args.threads, "rows": rows},
                                              indent=1) + "\n")


if __name__ == "__main__":
    main()
