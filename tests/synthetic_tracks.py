"""Synthetic tracking sequences with known identities, and their scores.

Each sequence is a list of frames; a frame holds the ground truth (object ids
and boxes of the objects in view) and what a detector would report: noisy
boxes of the visible objects, missed detections, weak (low-score) detections
and false positives, each detection tagged with the object it came from (-1
for a false positive) so that tests can check identities directly.

Run as a script to print MOTA, IDF1 and ID switches (CLEAR MOT and IDF1, by
``motmetrics``) of fassst_rt.tracking.Tracker on every sequence; that is the
table in docs/tracking.md:

    PYTHONPATH=$PWD python tests/synthetic_tracks.py
"""

import math
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

FRAME_W, FRAME_H = 640, 480


class Frame(NamedTuple):
    gt_ids: np.ndarray      # (n,) int64 ids of the objects in view
    gt_boxes: np.ndarray    # (n, 4) float32 their true boxes, clipped to the frame
    boxes: np.ndarray       # (k, 4) float32 detections, clipped to the frame
    scores: np.ndarray      # (k,) float32
    labels: np.ndarray      # (k,) int64
    sources: np.ndarray     # (k,) int64 object id of each detection, -1 for a false positive


class Object(NamedTuple):
    """An object: its centre at frame t, size, label, and per frame whether
    it is detected ("hit"), weakly detected ("weak") or missed ("miss")."""
    oid: int
    centre: Callable[[int], Tuple[float, float]]
    size: Tuple[float, float]
    label: int
    detection: Callable[[int], str]


def _always(t: int) -> str:
    return "hit"


def _clip(box: np.ndarray) -> np.ndarray:
    return np.clip(box, [0, 0, 0, 0], [FRAME_W, FRAME_H, FRAME_W, FRAME_H])


def _box(cx: float, cy: float, w: float, h: float) -> np.ndarray:
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float64)


def _in_view(box: np.ndarray, w: float, h: float) -> bool:
    """At least a third of the object lies inside the frame."""
    clipped = _clip(box)
    area = max(0.0, clipped[2] - clipped[0]) * max(0.0, clipped[3] - clipped[1])
    return area >= w * h / 3.0


def render(objects: Sequence[Object], num_frames: int, rng: np.random.Generator, noise: float = 1.0,
           false_positives: float = 0.0, num_labels: int = 1) -> List[Frame]:
    """Frames of `objects`: boxes jittered by `noise` px (centre and size),
    scores in [0.6, 0.95] for hits and [0.15, 0.45] for weak detections, and
    on average `false_positives` spurious boxes per frame (scores in
    [0.1, 0.7])."""
    frames = []
    for t in range(num_frames):
        gt_ids, gt_boxes, boxes, scores, labels, sources = [], [], [], [], [], []
        for obj in objects:
            cx, cy = obj.centre(t)
            w, h = obj.size
            true_box = _box(cx, cy, w, h)
            if not _in_view(true_box, w, h):
                continue
            gt_ids.append(obj.oid)
            gt_boxes.append(_clip(true_box))
            kind = obj.detection(t)
            if kind == "miss":
                continue
            jitter = rng.normal(0.0, noise, 4)
            det = _box(cx + jitter[0], cy + jitter[1], w + jitter[2], h + jitter[3])
            boxes.append(_clip(det))
            scores.append(rng.uniform(0.6, 0.95) if kind == "hit" else rng.uniform(0.15, 0.45))
            labels.append(obj.label)
            sources.append(obj.oid)
        for _ in range(rng.poisson(false_positives)):
            w, h = rng.uniform(20, 60, 2)
            cx, cy = rng.uniform(0, FRAME_W), rng.uniform(0, FRAME_H)
            boxes.append(_clip(_box(cx, cy, w, h)))
            scores.append(rng.uniform(0.1, 0.7))
            labels.append(int(rng.integers(0, num_labels)))
            sources.append(-1)
        frames.append(Frame(np.asarray(gt_ids, np.int64), np.asarray(gt_boxes, np.float32).reshape(-1, 4),
                            np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                            np.asarray(labels, np.int64), np.asarray(sources, np.int64)))
    return frames


def _linear(x0: float, y0: float, vx: float, vy: float) -> Callable[[int], Tuple[float, float]]:
    return lambda t: (x0 + vx * t, y0 + vy * t)


def _gaps(*spans: Tuple[int, int], weak: Sequence[Tuple[int, int]] = ()) -> Callable[[int], str]:
    """Missed on frames [a, b) of each span, weak on those of `weak`."""
    def kind(t: int) -> str:
        if any(a <= t < b for a, b in spans):
            return "miss"
        if any(a <= t < b for a, b in weak):
            return "weak"
        return "hit"
    return kind


def linear(seed: int = 0) -> List[Frame]:
    """Easy: six objects on straight, separate lanes."""
    rng = np.random.default_rng(seed)
    objects = [Object(i + 1, _linear(80 + 60 * i, 50 + 70 * i, rng.uniform(-5, 5), rng.uniform(-0.5, 0.5)),
                      (40, 40), 0, _always) for i in range(6)]
    return render(objects, 60, rng, noise=1.0)


def crossing(seed: int = 0) -> List[Frame]:
    """Easy: pairs of objects passing through each other head-on (their boxes
    overlapping fully at the crossing) and on diagonals."""
    rng = np.random.default_rng(seed)
    objects = [
        Object(1, _linear(60, 100, 9, 0), (40, 40), 0, _always),
        Object(2, _linear(580, 104, -9, 0), (40, 40), 0, _always),
        Object(3, _linear(100, 220, 8, 3), (36, 44), 0, _always),
        Object(4, _linear(540, 220, -8, 3), (36, 44), 0, _always),
        Object(5, _linear(320, 60, 0.5, 7), (30, 30), 0, _always),
        Object(6, _linear(120, 380, 6, -1), (50, 30), 0, _always),
    ]
    return render(objects, 60, rng, noise=1.0)


def occlusion(seed: int = 0) -> List[Frame]:
    """Easy: five objects on straight lanes, each undetected for 3 to 5
    frames in a row (still in view: counted as misses) and weakly detected
    (low score) on a few others."""
    rng = np.random.default_rng(seed)
    objects = [
        Object(1, _linear(60, 60, 6, 0.5), (40, 40), 0, _gaps((10, 14), weak=[(30, 33)])),
        Object(2, _linear(580, 150, -5, 0), (44, 36), 0, _gaps((20, 25))),
        Object(3, _linear(100, 250, 4, 1), (40, 40), 0, _gaps((5, 8), (40, 44), weak=[(15, 20)])),
        Object(4, _linear(300, 400, -3, -1), (50, 50), 0, _gaps((25, 30), weak=[(45, 47)])),
        Object(5, _linear(500, 330, -4, 0.5), (30, 40), 0, _gaps((33, 36))),
    ]
    return render(objects, 60, rng, noise=1.0)


def nonlinear(seed: int = 0) -> List[Frame]:
    """Hard: objects on circles and sine waves that cross one another, with
    2 px noise and 5 % missed detections."""
    rng = np.random.default_rng(seed)

    def circle(cx: float, cy: float, r: float, w: float, phase: float) -> Callable[[int], Tuple[float, float]]:
        return lambda t: (cx + r * math.cos(w * t + phase), cy + r * math.sin(w * t + phase))

    def sine(x0: float, y0: float, vx: float, amp: float, period: float) -> Callable[[int], Tuple[float, float]]:
        return lambda t: (x0 + vx * t, y0 + amp * math.sin(2 * math.pi * t / period))

    misses = rng.random((7, 80)) < 0.05
    detect = [lambda t, i=i: "miss" if misses[i, t] else "hit" for i in range(7)]
    objects = [
        Object(1, circle(320, 240, 150, 0.08, 0.0), (40, 40), 0, detect[0]),
        Object(2, circle(320, 240, 150, -0.08, 0.0 + math.pi), (40, 40), 0, detect[1]),
        Object(3, circle(200, 200, 80, 0.12, 1.0), (32, 32), 0, detect[2]),
        Object(4, sine(40, 120, 7, 60, 30), (36, 36), 0, detect[3]),
        Object(5, sine(600, 360, -7, 50, 25), (36, 36), 0, detect[4]),
        Object(6, sine(60, 420, 6, 30, 40), (44, 30), 0, detect[5]),
        Object(7, circle(460, 160, 60, -0.15, 2.0), (30, 30), 0, detect[6]),
    ]
    return render(objects, 80, rng, noise=2.0)


def leave_and_reenter(seed: int = 0) -> List[Frame]:
    """Hard: objects that leave the frame and come back, which motion alone
    cannot re-identify: 1 and 2 turn round just outside and are back within
    max_age frames, but moving the other way; 3 is away for longer than
    max_age; 4 goes out over the top edge and drops back in; 5 stays in
    view."""
    rng = np.random.default_rng(seed)

    def bounce(x0: float, y: float, v: float, wall: float) -> Callable[[int], Tuple[float, float]]:
        # moves at v until it reaches `wall`, then comes back at -v
        turn = (wall - x0) / v
        return lambda t: (x0 + v * t if t <= turn else wall - v * (t - turn), y)

    objects = [
        Object(1, bounce(520, 100, 6, 700), (40, 40), 0, _always),
        Object(2, bounce(100, 220, -6, -60), (40, 40), 0, _always),
        Object(3, bounce(560, 340, 4, 760), (40, 40), 0, _always),
        Object(4, lambda t: (200 + 3 * t, 60 - 8 * t if t < 15 else -60 + 8 * (t - 15)), (40, 40), 0, _always),
        Object(5, _linear(300, 420, 2, 0), (40, 40), 0, _always),
    ]
    return render(objects, 120, rng, noise=1.0)


def cluttered(seed: int = 0) -> List[Frame]:
    """Hard: ten objects, two labels, straight and curved paths that cross,
    3 px noise, 10 % missed and 15 % weak detections, and about two false
    positives per frame."""
    rng = np.random.default_rng(seed)
    objects = []
    n, frames = 10, 80
    kinds = rng.random((n, frames))
    for i in range(n):
        x0, y0 = rng.uniform(60, FRAME_W - 60), rng.uniform(60, FRAME_H - 60)
        vx, vy = rng.uniform(-5, 5, 2)
        bend = rng.uniform(-0.05, 0.05)

        def centre(t: int, x0: float = x0, y0: float = y0, vx: float = vx, vy: float = vy,
                   bend: float = bend) -> Tuple[float, float]:
            angle = bend * t
            c, s = math.cos(angle), math.sin(angle)
            return (x0 + (vx * c - vy * s) * t, y0 + (vx * s + vy * c) * t)

        def detection(t: int, i: int = i) -> str:
            u = kinds[i, t]
            return "miss" if u < 0.10 else ("weak" if u < 0.25 else "hit")

        objects.append(Object(i + 1, centre, tuple(rng.uniform(30, 50, 2)), i % 2, detection))
    return render(objects, frames, rng, noise=3.0, false_positives=2.0, num_labels=2)


EASY = {"linear": linear, "crossing": crossing, "occlusion": occlusion}
HARD = {"nonlinear": nonlinear, "leave_and_reenter": leave_and_reenter, "cluttered": cluttered}


def as_instances(frame: Frame, order: Optional[np.ndarray] = None):
    """The frame's detections as fassst_rt.Instances (in `order` if given)."""
    from fassst_rt import Instances
    idx = np.arange(len(frame.scores)) if order is None else order
    k = len(idx)
    return Instances(frame.boxes[idx], frame.scores[idx], frame.labels[idx], ["a", "b"],
                     np.zeros((k, 1, 1), np.float32), frame.boxes[idx], (FRAME_H, FRAME_W))


def track(frames: Sequence[Frame], **options) -> List[np.ndarray]:
    """Track ids of every detection of every frame."""
    from fassst_rt.tracking import Tracker
    tracker = Tracker(**options)
    return [tracker.update(as_instances(f)) for f in frames]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) IoU of x1, y1, x2, y2 boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def mot_scores(frames: Sequence[Frame], ids: Sequence[np.ndarray]) -> Dict[str, float]:
    """MOTA, IDF1, ID switches (and the counts they come from) by motmetrics:
    ground truth against the detections with a confirmed id, matched at
    IoU >= 0.5 (distance 1 - IoU), the MOT challenge's rule."""
    import motmetrics
    acc = motmetrics.MOTAccumulator(auto_id=True)
    for frame, frame_ids in zip(frames, ids):
        tracked = frame_ids >= 1
        distance = 1.0 - box_iou(frame.gt_boxes, frame.boxes[tracked])
        distance[distance > 0.5] = np.nan
        acc.update(frame.gt_ids.tolist(), frame_ids[tracked].tolist(), distance)
    names = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses", "num_objects",
             "mostly_tracked", "num_unique_objects"]
    summary = motmetrics.metrics.create().compute(acc, metrics=names, name="seq")
    row = summary.loc["seq"]
    return {"mota": float(row["mota"]), "idf1": float(row["idf1"]), "id_switches": int(row["num_switches"]),
            "false_positives": int(row["num_false_positives"]), "misses": int(row["num_misses"]),
            "gt": int(row["num_objects"]), "objects": int(row["num_unique_objects"])}


def ids_per_object(frames: Sequence[Frame], ids: Sequence[np.ndarray]) -> Dict[int, set]:
    """For each true object, the set of confirmed ids its detections got."""
    out = {}  # type: Dict[int, set]
    for frame, frame_ids in zip(frames, ids):
        for source, i in zip(frame.sources, frame_ids):
            if source >= 0:
                out.setdefault(int(source), set())
                if i >= 1:
                    out[int(source)].add(int(i))
    return out


def main() -> None:
    print("| sequence | frames | objects | MOTA | IDF1 | ID switches | FP | FN |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, make in list(EASY.items()) + list(HARD.items()):
        frames = make()
        s = mot_scores(frames, track(frames))
        print("| {} | {} | {} | {:.3f} | {:.3f} | {} | {} | {} |".format(
            name, len(frames), s["objects"], s["mota"], s["idf1"], s["id_switches"], s["false_positives"],
            s["misses"]))


if __name__ == "__main__":
    main()
