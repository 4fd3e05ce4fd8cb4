"""``fassst-rt segment SOURCE ...``: image files, folders of images, a video
file or a camera index; overlays (and JSON) written with ``-o``.

A run over several images (a folder, several files) or over a video's frames
reports an item that fails (an unreadable file, a frame the model refuses, an
output that cannot be written) on stderr and goes on; it ends with a summary of
how many items were done and which failed, and exits with status 1 when any
failed. A single image file fails as a one-line error. Every file written is
written atomically (fassst_rt/atomic.py)."""

import json
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

from .. import opencv_io
from ..atomic import atomic_write_text
from ..models import DEFAULT_MODEL_NAME, SHIPPED_MODEL_NAMES, resolve_model
from ..segmenter import Segmenter
from ..sources import READERS

# How many failed items the closing summary names (all are reported as they fail).
SUMMARY_NAMES = 10


def add_arguments(parser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="image files and folders of images, or one video file or camera index (0, 1, ...)")
    parser.add_argument("-m", "--model", default=None,
                        help="NAME.onnx or NAME.plan, or a shipped model's name ({}; installed with the "
                             "package; default: {})".format(", ".join(SHIPPED_MODEL_NAMES), DEFAULT_MODEL_NAME))
    parser.add_argument("-o", "--output", default=None,
                        help="one image: overlay file (.png/.jpg) or folder; several images or a folder: "
                             "output folder; video/camera: annotated video (.mp4)")
    parser.add_argument("--json", action="store_true",
                        help="also write instances as JSON (COCO RLE masks); for a video, one entry per "
                             "frame, null for a frame that failed")
    parser.add_argument("--tile", default=None,
                        help="tiling: SIZE or SIZE:OVERLAP in frame pixels, or 'none' (default: the model's)")
    parser.add_argument("--score-threshold", type=float, default=None)
    parser.add_argument("--nms-threshold", type=float, default=None)
    parser.add_argument("--max-instances", type=int, default=None)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the backend")
    parser.add_argument("--memory-budget-mib", type=int, default=1024,
                        help="the working set one frame may take beyond the model; larger frames are "
                             "refused up front (default: 1024)")
    parser.add_argument("--rgb", action="store_true", help="frames are RGB (default: BGR, as OpenCV reads)")
    parser.add_argument("--mode", choices=("throughput", "latency"), default="throughput",
                        help="videos and cameras: every frame in order (throughput), or a live source's "
                             "newest frame first, stale ones dropped (latency)")
    parser.add_argument("--no-overlap", dest="overlap", action="store_false",
                        help="videos and cameras: one frame at a time through the steps (the lower latency where "
                             "the backend already uses every core; default: one frame's graph overlaps the "
                             "finishing of the frame before)")
    parser.add_argument("--track", action="store_true",
                        help="videos and cameras: identities across frames (the instances' ids)")
    parser.add_argument("--show", action="store_true",
                        help="videos and cameras: a live window with the annotated frame and the FPS, latency "
                             "and dropped-frames readout (q or Esc stops; needs an OpenCV with a GUI, not "
                             "opencv-python-headless)")
    parser.add_argument("--reader", choices=READERS, default="opencv",
                        help="what decodes video files, cameras and URLs: OpenCV (default) or PyAV (the "
                             "[pyav] extra)")
    parser.add_argument("--jsonl", default=None, metavar="PATH",
                        help="videos and cameras: one JSON line per frame (source, frame, timestamp, instances "
                             "with id, label, name, score, box, mask as COCO RLE), written as frames come")
    ray = parser.add_argument_group(
        "Ray Data (docs/distributed.md; needs fassst_rt[ray])",
        "--ray segments the frames of image and video files, folders, .txt lists of paths and URIs on a Ray "
        "cluster, with a pool of actors each holding one Segmenter, and writes -o DIR/frames (one row per "
        "frame) and DIR/coco_results.json. Put --ray after the sources, or write --ray=ADDRESS.")
    ray.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                     help="run on Ray: the cluster at ADDRESS ('auto': the one this node belongs to, "
                          "ray://HOST:10001), or without ADDRESS the local one (started when none runs)")
    ray.add_argument("--format", choices=("parquet", "jsonl"), default="parquet",
                     help="--ray: the row files' format (default parquet)")
    ray.add_argument("--actors", type=int, default=None,
                     help="--ray: Segmenter actors (default: the cluster's CPUs / --cpus-per-actor)")
    ray.add_argument("--cpus-per-actor", type=float, default=1,
                     help="--ray: CPUs per actor, its ONNX Runtime threads (default 1)")
    ray.add_argument("--gpus-per-actor", type=float, default=0,
                     help="--ray: GPUs per actor (1 for a TensorRT .plan model; default 0)")
    ray.add_argument("--batch-size", type=int, default=4, help="--ray: frames per actor call (default 4)")
    ray.add_argument("--readers", type=int, default=2,
                     help="--ray: tasks reading and decoding files at once (default 2)")


def _tile(value: Optional[str]):
    if value is None:
        return None
    if value.lower() == "none":
        return False
    try:
        parts = [int(p) for p in value.split(":")]
    except ValueError:
        raise ValueError("--tile must be SIZE, SIZE:OVERLAP or none, got {!r}".format(value)) from None
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


class _Progress:
    """A progress line on stderr (tqdm when installed)."""

    def __init__(self, total: int, unit: str) -> None:
        try:
            from tqdm import tqdm
            self._bar = tqdm(total=total or None, unit=unit, file=sys.stderr)
        except ImportError:
            self._bar = None
        self.total, self.count, self.unit = total, 0, unit

    def update(self, text: str = "") -> None:
        self.count += 1
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(1)
        else:
            print("\r{}/{} {} {}".format(self.count, self.total or "?", self.unit, text), end="",
                  file=sys.stderr, flush=True)

    def note(self, line: str) -> None:
        """A line on stderr that does not break the progress line."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print("\r" + line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            print(file=sys.stderr)


class _Tally:
    """The items of a run that were done and those that failed, with why."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.ok = 0
        self.failed = []  # type: List[Tuple[str, str]]

    def failure(self, item: str, exc: BaseException, progress: _Progress) -> None:
        message = str(exc) or type(exc).__name__
        if item not in message:  # errors from opencv_io name the file already
            message = "{}: {}".format(item, message)
        self.failed.append((item, message))
        progress.note("fassst-rt segment: error: {}".format(message))

    def summary(self) -> str:
        """"N images: A ok, B failed (x.png, y.png)"."""
        total = self.ok + len(self.failed)
        text = "{} {}{}: {} ok, {} failed".format(total, self.unit, "" if total == 1 else "s", self.ok,
                                                  len(self.failed))
        if self.failed:
            names = [item for item, _ in self.failed[:SUMMARY_NAMES]]
            more = len(self.failed) - len(names)
            text += " ({}{})".format(", ".join(names), ", and {} more".format(more) if more else "")
        return text

    def status(self) -> int:
        return 1 if self.failed else 0


def _write_json(path: str, instances) -> None:
    atomic_write_text(path, instances.to_json())


def _images(folder: str) -> List[str]:
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(opencv_io.IMAGE_SUFFIXES))
    return [os.path.join(folder, n) for n in names]


def is_stream_source(source: str) -> bool:
    """A stream: a video file, a named pipe, a camera (index or /dev/videoN), a URL or a GStreamer pipeline."""
    from ..sources import is_fifo
    return (source.isdigit() or is_fifo(source) or source.lower().endswith(opencv_io.VIDEO_SUFFIXES + (".y4m",))
            or "://" in source or source.startswith(("gst:", "/dev/video")))


def run(args) -> int:
    if args.ray is not None:
        from .segment_ray import run_on_ray
        return run_on_ray(args, _tile(args.tile))
    sources = list(args.sources)
    videos = [s for s in sources if is_stream_source(s)]
    if videos and len(sources) > 1:
        raise ValueError("a video file or camera index must be the only SOURCE, got {}".format(" ".join(sources)))
    if getattr(args, "show", False):
        if not videos:
            raise ValueError("--show is for video, camera and URL sources")
        from ..live_view import require_gui
        require_gui("--show")  # before the model loads and any output is opened
    model = resolve_model(args.model)
    segmenter = Segmenter(model, device=args.device, score_threshold=args.score_threshold,
                          nms_threshold=args.nms_threshold, max_instances=args.max_instances,
                          tile=_tile(args.tile), channel_order="rgb" if args.rgb else "bgr",
                          num_threads=args.threads, memory_budget_mib=args.memory_budget_mib)
    with segmenter:
        if videos:
            source = sources[0]
            return _run_video(segmenter, int(source) if source.isdigit() else source, args)
        if args.track or args.jsonl or args.mode != "throughput" or args.reader != "opencv":
            raise ValueError("--track, --jsonl, --mode and --reader are for video, camera and URL sources")
        if len(sources) == 1 and not os.path.isdir(sources[0]):
            return _run_image(segmenter, sources[0], args.output, args.json)
        return _run_images(segmenter, _image_list(sources), args)


def _image_list(sources: List[str]) -> List[str]:
    """The image files of ``sources``: folders expanded (sorted), files as given."""
    paths = []  # type: List[str]
    for source in sources:
        if os.path.isdir(source):
            found = _images(source)
            if not found and len(sources) == 1:
                raise ValueError("{}: no images ({}) in this folder".format(
                    source, ", ".join(opencv_io.IMAGE_SUFFIXES)))
            paths += found
        else:
            paths.append(source)
    return paths


def _summary(path: str, instances) -> str:
    counts = {}  # type: Dict[str, int]
    for name in instances.class_names:
        counts[name] = counts.get(name, 0) + 1
    ms = sum(v for k, v in instances.timings.items() if k != "tiles")
    return "{}: {} instances ({}) in {:.1f} ms".format(
        path, len(instances), ", ".join("{} {}".format(v, k) for k, v in sorted(counts.items())) or "none", ms)


def _run_image(segmenter: Segmenter, path: str, output: Optional[str], as_json: bool) -> int:
    frame = opencv_io.read_image(path)
    instances = segmenter.run(frame)
    print(_summary(path, instances))
    if output:
        if os.path.isdir(output) or not os.path.splitext(output)[1]:
            output = os.path.join(output, os.path.splitext(os.path.basename(path))[0] + ".png")
        opencv_io.write_image(output, instances.plot(_displayable(frame)))
        print("overlay written to {}".format(output))
        if as_json:
            _write_json(os.path.splitext(output)[0] + ".json", instances)
    elif as_json:
        print(instances.to_json())
    return 0


def _displayable(frame):
    """8-bit BGR for drawing (16-bit frames mapped as the model maps them)."""
    import numpy as np
    if frame.dtype == np.uint16:
        from ..input_mapping import PERCENTILE_0_5_99_5, map_to_uint8
        frame = map_to_uint8(frame, PERCENTILE_0_5_99_5)
    return frame


def _segment_one(segmenter: Segmenter, path: str, out_dir: Optional[str], as_json: bool,
                 written: Dict[str, str]) -> int:
    """One image of a folder run: its overlay (and JSON) in ``out_dir``, never
    over the output of another image of this run (``written``: output stem ->
    the image it came from). Returns the number of instances."""
    if out_dir:
        stem = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0])
        if stem in written:
            raise ValueError("{}: its overlay {}.png would overwrite the one of {} (same name in the output "
                             "folder)".format(path, stem, written[stem]))
    frame = opencv_io.read_image(path)
    instances = segmenter.run(frame)
    if out_dir:
        written[stem] = path
        opencv_io.write_image(stem + ".png", instances.plot(_displayable(frame)))
        if as_json:
            _write_json(stem + ".json", instances)
    return len(instances)


def _run_images(segmenter: Segmenter, paths: List[str], args) -> int:
    out_dir = args.output
    if out_dir and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError("-o {}: must be a folder when segmenting several images".format(out_dir))
    tally = _Tally("image")
    written = {}  # type: Dict[str, str]
    progress = _Progress(len(paths), "img")
    try:
        for path in paths:
            try:
                count = _segment_one(segmenter, path, out_dir, args.json, written)
            except Exception as exc:  # reported, and the run goes on
                tally.failure(path, exc, progress)
                progress.update("failed")
                continue
            tally.ok += 1
            progress.update("{} instances".format(count))
    finally:
        progress.close()
    print(tally.summary() + ("; results in " + out_dir if out_dir and tally.ok else ""))
    return tally.status()


def mot_lines(result) -> str:
    """A frame's tracked instances in the MOT Challenge text format:
    ``frame,id,left,top,width,height,score,-1,-1,-1`` (frames from 1; only
    instances with a confirmed track)."""
    inst = result.instances
    if inst.track_ids is None:
        return ""
    rows = []
    for i, track_id in enumerate(inst.track_ids):
        if track_id < 1:
            continue
        x1, y1, x2, y2 = (float(v) for v in inst.boxes[i])
        rows.append("{},{},{:.2f},{:.2f},{:.2f},{:.2f},{:.4f},-1,-1,-1\n".format(
            result.frame + 1, int(track_id), x1, y1, x2 - x1, y2 - y1, float(inst.scores[i])))
    return "".join(rows)


def _frame_rate_and_count(opened) -> Tuple[float, int]:
    """A video source's frames per second and frame count (0: unknown)."""
    if hasattr(opened, "capture"):
        return opencv_io.video_properties(opened.capture)
    container = getattr(opened, "container", None)  # PyAV
    if container is not None and container.streams.video:
        video = container.streams.video[0]
        return float(video.average_rate or 0.0), int(video.frames or 0)
    return 0.0, 0


def _run_video(segmenter: Segmenter, source, args) -> int:
    """A video, camera, URL or GStreamer source through ``Segmenter.stream``
    (its steps overlapped on threads). An error ends the stream: the frames
    before it are written and counted, the error is reported. With ``--show``
    a window shows each annotated frame with the readout; closing it (q,
    Esc) ends the run as the end of the stream would."""
    from ..sources import open_source
    from ..stream_output import result_to_json_line
    opened = open_source(source, reader=getattr(args, "reader", "opencv"))
    fps_in, count = _frame_rate_and_count(opened)
    latency_mode = args.mode == "latency"
    window = None
    if getattr(args, "show", False):
        from ..live_view import LiveWindow
        window = LiveWindow("fassst-rt: {}".format(getattr(opened, "name", source)))
    writer = None  # type: Optional[opencv_io.VideoFileWriter]
    lines = open(args.jsonl, "w", encoding="utf-8") if args.jsonl else None  # grows as frames come
    mot = open(args.mot, "w", encoding="utf-8") if getattr(args, "mot", None) else None
    records = []  # type: List[object]
    progress = _Progress(count, "frame")
    tally = _Tally("frame")
    latencies, dropped = [], 0
    t_start = time.perf_counter()
    try:
        try:
            with segmenter.stream(opened, mode=args.mode, track=args.track,
                                  overlap=getattr(args, "overlap", True)) as stream:
                for r in stream:
                    if args.output and writer is None:
                        writer = opencv_io.video_writer(args.output, fps_in or 30.0, r.image.shape[1],
                                                        r.image.shape[0])
                    tally.ok += 1
                    dropped += r.dropped
                    latencies.append(r.latency_ms)
                    fps = tally.ok / max(time.perf_counter() - t_start, 1e-9)
                    readout = readout_text(len(r.instances), fps, r.latency_ms, dropped, latency_mode)
                    progress.update(readout)
                    annotated = (r.instances.plot(_displayable(r.image))
                                 if writer is not None or window is not None else None)
                    if writer is not None:
                        writer.write(annotated)
                    if lines is not None:
                        lines.write(result_to_json_line(r) + "\n")
                        lines.flush()
                    if mot is not None:
                        mot.write(mot_lines(r))
                        mot.flush()
                    if args.json:
                        records.append(json.loads(r.instances.to_json()))
                    if window is not None:
                        from ..live_view import draw_readout, readout_lines
                        if not window.show(draw_readout(annotated, readout_lines(fps, r.latency_ms, dropped,
                                                                                 latency_mode))):
                            break  # the window was closed: the run ends as at the end of the stream
        except (opencv_io.ImageIOError, ValueError, RuntimeError, OSError, MemoryError) as exc:
            # the stream's error: the frames before it are kept
            tally.failure("{} after frame {}".format(source, tally.ok), exc, progress)
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    finally:
        progress.close()
        for out in (lines, mot):
            if out is not None:
                out.close()
        if window is not None:
            window.close()
        close = getattr(opened, "close", None)
        if close is not None:
            close()
    if writer is not None:
        writer.close()
    if args.json and args.output:
        atomic_write_text(os.path.splitext(args.output)[0] + ".json", json.dumps(records))
    text = tally.summary()
    if latencies:
        text += "; median latency {:.1f} ms".format(sorted(latencies)[len(latencies) // 2])
    if latency_mode:
        text += "; {} frames dropped (latency mode)".format(dropped)
    print(text)
    return tally.status()


def readout_text(instances: int, fps: float, latency_ms: float, dropped: int, latency_mode: bool) -> str:
    """The progress line's readout of a stream's latest result."""
    text = "{} inst, {:.1f} FPS, {:.0f} ms".format(instances, fps, latency_ms)
    if latency_mode:
        text += ", {} dropped".format(dropped)
    return text
