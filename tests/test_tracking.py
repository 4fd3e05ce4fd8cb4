"""fassst_rt.tracking.Tracker on synthetic sequences with known identities
(tests/synthetic_tracks.py): identities checked directly, and MOTA / IDF1 /
ID switches by motmetrics (the test extra) where it is installed."""

import numpy as np
import pytest

import synthetic_tracks as st
from fassst_rt import Instances, _C
from fassst_rt.tracking import Tracker

ALL = dict(list(st.EASY.items()) + list(st.HARD.items()))


def _instances(boxes, scores, labels, box_masks=None):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    k = len(boxes)
    masks = np.zeros((k, 1, 1), np.float32) if box_masks is None else np.asarray(box_masks, np.float32)
    return Instances(boxes, scores, labels, ["a", "b"], masks, boxes, (480, 640))


@pytest.mark.parametrize("name", sorted(st.EASY))
def test_easy_sequences_give_each_object_one_id_of_its_own(name):
    frames = st.EASY[name]()
    ids = st.track(frames)
    per_object = st.ids_per_object(frames, ids)
    assert all(len(v) == 1 for v in per_object.values()), per_object
    owners = [next(iter(v)) for v in per_object.values()]
    assert len(set(owners)) == len(owners), per_object  # no two objects share an id
    # every detection of these sequences scores >= 0.15, so each one that
    # belongs to an object is tracked (the objects are all in view on frame 0)
    assert all((frame_ids >= 1).all() for frame_ids in ids)


@pytest.mark.parametrize("name", sorted(st.EASY))
def test_easy_sequences_mota_idf1(name):
    pytest.importorskip("motmetrics")
    frames = st.EASY[name]()
    scores = st.mot_scores(frames, st.track(frames))
    assert scores["id_switches"] == 0, scores
    assert scores["mota"] >= 0.9, scores
    assert scores["idf1"] >= 0.95, scores
    assert scores["false_positives"] == 0, scores


# The hard sequences' numbers (docs/tracking.md, `python tests/synthetic_tracks.py`):
# the bounds sit just under them, so that a regression shows.
HARD_BOUNDS = {
    "nonlinear": {"mota": 0.95, "idf1": 0.95, "id_switches": 0},
    "leave_and_reenter": {"mota": 0.97, "idf1": 0.8, "id_switches": 4},
    "cluttered": {"mota": 0.85, "idf1": 0.9, "id_switches": 2},
}


@pytest.mark.parametrize("name", sorted(st.HARD))
def test_hard_sequences_stay_at_their_documented_scores(name):
    pytest.importorskip("motmetrics")
    frames = st.HARD[name]()
    scores = st.mot_scores(frames, st.track(frames))
    bound = HARD_BOUNDS[name]
    assert scores["mota"] >= bound["mota"], scores
    assert scores["idf1"] >= bound["idf1"], scores
    assert scores["id_switches"] <= bound["id_switches"], scores


def test_mot_scores_on_a_hand_computed_case():
    """The harness's use of motmetrics: 2 objects over 3 frames. Frame 0 both
    tracked (ids 1, 2); frame 1 object A missed, a false positive; frame 2 A
    and B swap ids. GT 6, FN 1, FP 1, switches 2 (A: 1 -> 2, B: 2 -> 1):
    MOTA = 1 - 4 / 6. IDF1: best one-to-one ids A-1, B-2 share 3 of the
    5 tracked detections' matches: IDTP 3, IDFN 3, IDFP 3, IDF1 = 0.5."""
    pytest.importorskip("motmetrics")
    a, b = [0, 0, 40, 40], [100, 0, 140, 40]
    fp = [300, 300, 340, 340]

    def frame(gt, dets, sources):
        return st.Frame(np.array([g[0] for g in gt], np.int64), np.array([g[1] for g in gt], np.float32).reshape(-1, 4),
                        np.array(dets, np.float32).reshape(-1, 4), np.full(len(dets), 0.9, np.float32),
                        np.zeros(len(dets), np.int64), np.array(sources, np.int64))

    frames = [frame([(1, a), (2, b)], [a, b], [1, 2]),
              frame([(1, a), (2, b)], [b, fp], [2, -1]),
              frame([(1, a), (2, b)], [a, b], [1, 2])]
    ids = [np.array([1, 2]), np.array([2, 3]), np.array([2, 1])]
    s = st.mot_scores(frames, ids)
    assert (s["gt"], s["misses"], s["false_positives"], s["id_switches"]) == (6, 1, 1, 2)
    assert s["mota"] == pytest.approx(1 - 4 / 6)
    assert s["idf1"] == pytest.approx(0.5)


@pytest.mark.parametrize("name", sorted(ALL))
def test_permuting_a_frames_detections_does_not_change_any_id(name):
    frames = ALL[name]()
    rng = np.random.default_rng(len(name))
    in_order, shuffled = Tracker(), Tracker()
    for frame in frames:
        order = rng.permutation(len(frame.scores))
        want = in_order.update(st.as_instances(frame))
        got = shuffled.update(st.as_instances(frame, order))
        np.testing.assert_array_equal(got, want[order])


def test_ids_are_given_densely_from_one_in_order_of_confirmation():
    frames = st.cluttered()
    seen = []
    for ids in st.track(frames):
        for i in sorted(set(ids[ids >= 1].tolist()) - set(seen)):
            seen.append(i)
    assert seen == list(range(1, len(seen) + 1))


def test_false_positives_rarely_get_an_id():
    # cluttered: about two spurious boxes a frame, scores up to 0.7; one that
    # is confirmed needs a second one overlapping it on the next frame.
    frames = st.cluttered()
    ids = st.track(frames)
    spurious = np.concatenate([i[f.sources < 0] for f, i in zip(frames, ids)])
    assert len(spurious) > 100
    assert (spurious >= 1).mean() < 0.05


def test_update_sets_track_ids_and_returns_them():
    tracker = Tracker()
    inst = _instances([[0, 0, 10, 10], [50, 50, 70, 70]], [0.9, 0.8], [0, 1])
    assert inst.track_ids is None
    ids = tracker.update(inst)
    assert ids.dtype == np.int64 and ids.shape == (2,)
    assert inst.track_ids is ids
    np.testing.assert_array_equal(ids, [1, 2])
    empty = _instances(np.zeros((0, 4)), [], [])
    assert tracker.update(empty).shape == (0,)
    assert tracker.frame_count == 2
    assert [t["id"] for t in tracker.tracks()] == [1, 2] and tracker.tracks()[0]["misses"] == 1
    tracker.reset()
    assert tracker.frame_count == 0 and tracker.tracks() == []


def test_mask_iou_separates_objects_sharing_a_box():
    # A track whose mask is the left half of its box; next frame two
    # detections on that box, the right-half one scoring higher.
    left = np.zeros((8, 8), np.float32)
    left[:, :4] = 1
    right = 1 - left
    box = [100, 100, 140, 140]
    for use_masks in (False, True):
        tracker = Tracker(use_masks=use_masks)
        tracker.update(_instances([box], [0.8], [0], left[None]))
        ids = tracker.update(_instances([box, box], [0.9, 0.8], [0, 0], np.stack([right, left])))
        if use_masks:
            np.testing.assert_array_equal(ids, [-1, 1])
        else:
            assert sorted(ids.tolist()) == [-1, 1]


def test_box_mask_iou_matches_full_frame_masks():
    """The tracker's IoU of two box masks against the IoU of the masks pasted
    into the frame by the core's paste (an independent path)."""
    from fassst_rt import processing
    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(40):
        s = int(rng.integers(6, 20))
        masks = (rng.random((2, s, s)) < 0.6).astype(np.float32)
        x, y = rng.uniform(10, 60, 2)
        boxes = np.array([[x, y, x + rng.uniform(20, 60), y + rng.uniform(20, 60)],
                          [x + rng.uniform(-15, 15), y + rng.uniform(-15, 15), 0, 0]], np.float32)
        boxes[1, 2:] = boxes[1, :2] + rng.uniform(20, 60, 2)
        full = processing.paste_masks(masks, boxes, 160, 160, 0.5).reshape(2, -1)
        inter = np.logical_and(full[0], full[1]).sum()
        want = inter / np.logical_or(full[0], full[1]).sum()
        got = _C.box_mask_iou(masks[0], boxes[0].tolist(), masks[1], boxes[1].tolist())
        worst = max(worst, abs(got - want))
    # the paste resamples each mask bilinearly onto whole pixels, the tracker
    # samples cells: they agree to a few pixels along the masks' borders
    assert worst < 0.08


@pytest.mark.parametrize("kwargs, text", [
    ({"high_threshold": 1.5}, "high_threshold must be in [0, 1], got 1.5"),
    ({"low_threshold": -0.2}, "low_threshold must be in [0, 1]"),
    ({"low_threshold": 0.6, "high_threshold": 0.5}, "low_threshold must be <= high_threshold"),
    ({"new_track_threshold": float("nan")}, "new_track_threshold"),
    ({"match_iou": 2.0}, "match_iou"),
    ({"low_match_iou": -1.0}, "low_match_iou"),
    ({"mask_threshold": 1.1}, "mask_threshold"),
    ({"velocity_noise": 0.0}, "velocity_noise must be in (0, 1]"),
    ({"position_noise": 2.0}, "position_noise"),
    ({"min_hits": 0}, "min_hits must be >= 1, got 0"),
    ({"max_age": -1}, "max_age must be >= 1, got -1"),
])
def test_bad_options_name_the_argument(kwargs, text):
    with pytest.raises(ValueError, match=text.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)")):
        Tracker(**kwargs)


def test_bad_input_is_refused_clearly():
    with pytest.raises(TypeError, match="min_hits must be an int"):
        Tracker(min_hits=2.5)
    tracker = Tracker()
    with pytest.raises(TypeError, match="must be a fassst_rt.Instances"):
        tracker.update({"boxes": []})
    with pytest.raises(ValueError, match=r"scores must be in \[0, 1\], got 1.5"):
        tracker.update(_instances([[0, 0, 10, 10]], [1.5], [0]))
    with pytest.raises(ValueError, match="x2 >= x1"):
        tracker.update(_instances([[10, 0, 5, 10]], [0.9], [0]))
    with pytest.raises(ValueError, match="labels must be >= 0"):
        tracker.update(_instances([[0, 0, 10, 10]], [0.9], [-3]))
    with pytest.raises(ValueError, match=r"boxes must have shape \(K, 4\), got \(2, 3\)"):
        _C.Tracker().update(np.zeros((2, 3), np.float32), np.zeros(2, np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"labels must have shape \(1,\), got \(2,\)"):
        _C.Tracker().update(np.zeros((1, 4), np.float32), np.zeros(1, np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="give both or neither"):
        _C.Tracker().update(np.zeros((1, 4), np.float32), np.zeros(1, np.float32), np.zeros(1, np.int64),
                            box_masks=np.zeros((1, 2, 2), np.float32))
    assert tracker.frame_count == 0  # refused frames do not count
