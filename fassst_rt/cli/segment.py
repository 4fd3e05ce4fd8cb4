"""``fassst-rt segment SOURCE``: an image, a folder of images, a video file or
a camera index; overlays (and JSON) written with ``-o``."""

import json
import os
import sys
import time
from typing import Iterable, Optional

from .. import opencv_io
from ..models import default_model_path
from ..segmenter import Segmenter


def add_arguments(parser) -> None:
    parser.add_argument("source", help="image file, folder of images, video file, or camera index (0, 1, ...)")
    parser.add_argument("-m", "--model", default=None,
                        help="NAME.onnx or NAME.plan (default: the shipped model, {})".format(default_model_path()))
    parser.add_argument("-o", "--output", default=None,
                        help="image: overlay file (.png/.jpg) or folder; folder: output folder; "
                             "video/camera: annotated video (.mp4)")
    parser.add_argument("--json", action="store_true", help="also write instances as JSON (COCO RLE masks)")
    parser.add_argument("--tile", default=None,
                        help="tiling: SIZE or SIZE:OVERLAP in frame pixels, or 'none' (default: the model's)")
    parser.add_argument("--score-threshold", type=float, default=None)
    parser.add_argument("--nms-threshold", type=float, default=None)
    parser.add_argument("--max-instances", type=int, default=None)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the backend")
    parser.add_argument("--rgb", action="store_true", help="frames are RGB (default: BGR, as OpenCV reads)")


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

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            print(file=sys.stderr)


def _write_json(path: str, instances) -> None:
    with open(path, "w") as f:
        f.write(instances.to_json())


def _images(folder: str) -> Iterable[str]:
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(opencv_io.IMAGE_SUFFIXES))
    return [os.path.join(folder, n) for n in names]


def run(args) -> int:
    model = args.model or default_model_path()
    segmenter = Segmenter(model, device=args.device, score_threshold=args.score_threshold,
                          nms_threshold=args.nms_threshold, max_instances=args.max_instances,
                          tile=_tile(args.tile), channel_order="rgb" if args.rgb else "bgr",
                          num_threads=args.threads)
    source = args.source
    with segmenter:
        if source.isdigit() or source.lower().endswith(opencv_io.VIDEO_SUFFIXES):
            return _run_video(segmenter, int(source) if source.isdigit() else source, args)
        if os.path.isdir(source):
            return _run_folder(segmenter, source, args)
        return _run_image(segmenter, source, args.output, args.json)


def _summary(path: str, instances) -> str:
    counts = {}
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


def _run_folder(segmenter: Segmenter, folder: str, args) -> int:
    paths = _images(folder)
    if not paths:
        raise ValueError("{}: no images ({}) in this folder".format(folder, ", ".join(opencv_io.IMAGE_SUFFIXES)))
    out_dir = args.output
    progress = _Progress(len(paths), "img")
    try:
        for path in paths:
            frame = opencv_io.read_image(path)
            instances = segmenter.run(frame)
            progress.update("{} instances".format(len(instances)))
            if out_dir:
                stem = os.path.splitext(os.path.basename(path))[0]
                opencv_io.write_image(os.path.join(out_dir, stem + ".png"), instances.plot(_displayable(frame)))
                if args.json:
                    _write_json(os.path.join(out_dir, stem + ".json"), instances)
    finally:
        progress.close()
    print("{} images segmented{}".format(len(paths), "; results in " + out_dir if out_dir else ""))
    return 0


def _run_video(segmenter: Segmenter, source, args) -> int:
    capture = opencv_io.open_video(source)
    fps_in, count = opencv_io.video_properties(capture)
    writer = None
    records = []
    progress = _Progress(count, "frame")
    times = []
    try:
        for frame in opencv_io.frames(capture):
            t0 = time.perf_counter()
            instances = segmenter.run(frame)
            times.append(time.perf_counter() - t0)
            recent = times[-30:]
            progress.update("{} inst, {:.1f} FPS".format(len(instances), len(recent) / sum(recent)))
            if args.output:
                if writer is None:
                    writer = opencv_io.video_writer(args.output, fps_in, frame.shape[1], frame.shape[0])
                writer.write(instances.plot(frame))
            if args.json:
                records.append(json.loads(instances.to_json()))
    finally:
        progress.close()
        capture.release()
        if writer is not None:
            writer.release()
    if args.json and args.output:
        with open(os.path.splitext(args.output)[0] + ".json", "w") as f:
            json.dump(records, f)
    if times:
        print("{} frames, median {:.1f} ms per frame".format(len(times), 1e3 * sorted(times)[len(times) // 2]))
    return 0
