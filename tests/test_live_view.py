"""`fassst-rt track --show`: the readout drawn on the annotated frame, and a
clear error naming --show, before any work, where OpenCV has no GUI."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="the live window is OpenCV's")

from fassst_rt import live_view  # noqa: E402
from support import subprocess_env  # noqa: E402

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny", "tiny.onnx")


def test_readout_lines_say_fps_latency_and_drops():
    assert live_view.readout_lines(12.345, 56.7, 3, latency_mode=True) == ["12.3 FPS", "latency 57 ms", "3 dropped"]
    assert live_view.readout_lines(8.0, 120.2, 0, latency_mode=False) == ["8.0 FPS", "latency 120 ms"]


def test_the_readout_is_drawn_in_the_top_left_corner_only():
    frame = np.full((120, 200, 3), 200, np.uint8)
    drawn = live_view.draw_readout(frame, ["12.3 FPS", "latency 57 ms", "3 dropped"])
    assert (frame == 200).all(), "the frame itself is left as it was"
    changed = np.argwhere((drawn != frame).any(axis=2))
    rows, cols = changed[:, 0], changed[:, 1]
    assert rows.min() == 0 and cols.min() == 0 and rows.max() < 80 and cols.max() < 140
    box = drawn[:rows.max() + 1, :cols.max() + 1]
    assert (box == 255).all(axis=2).sum() > 50, "white text"
    assert (box == 50).all(axis=2).sum() > box.shape[0] * box.shape[1] // 2, "on the darkened frame"
    fewer = live_view.draw_readout(frame, ["12.3 FPS"])
    assert np.argwhere((fewer != frame).any(axis=2))[:, 0].max() < rows.max(), "one line: a lower box"
    with pytest.raises(ValueError, match=r"image must be an \(H, W, 3\) uint8 array, got float32"):
        live_view.draw_readout(frame.astype(np.float32), ["x"])


def test_show_without_a_gui_is_an_error_naming_show_before_any_work(tmp_path):
    problem = live_view.gui_problem()
    if problem is None:
        pytest.skip("this OpenCV can show windows here")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    out, lines = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "track", str(video), "--model", TINY, "--show",
                        "-o", str(out), "--jsonl", str(lines)],
                       capture_output=True, text=True, env=subprocess_env(), cwd=str(tmp_path), timeout=120)
    assert r.returncode == 1
    assert r.stderr.startswith("fassst-rt track: error: --show needs a window, but " + problem), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists() and not lines.exists(), "nothing is started before the check"
    assert time.monotonic() - t0 < 60
    with pytest.raises(RuntimeError, match="--show needs a window"):
        live_view.LiveWindow("test")


def test_tracked_instances_keep_their_colour_across_frames():
    from fassst_rt.results import Instances
    boxes = np.array([[2, 2, 12, 12], [20, 5, 30, 15]], np.float32)

    def instances(order, ids):
        inst = Instances(boxes=boxes[order], scores=np.array([0.9, 0.8], np.float32),
                         labels=np.zeros(2, np.int64), box_masks=np.ones((2, 4, 4), np.float32),
                         mask_boxes=boxes[order],
                         names=["cell"],
                         image_size=(20, 40))
        inst.track_ids = np.array(ids, np.int64)
        return inst

    frame = np.zeros((20, 40, 3), np.uint8)
    first = instances([0, 1], [7, -1]).plot(frame)
    second = instances([1, 0], [-1, 7]).plot(frame)  # the same objects listed the other way round
    np.testing.assert_array_equal(first, second)
    grey = first[10, 25]
    assert grey[0] == grey[1] == grey[2] > 0, "no confirmed id: grey"
    assert len(set(first[5, 5].tolist())) > 1, "id 7: a colour"
