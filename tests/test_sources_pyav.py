"""The PyAV reader (`reader="pyav"`, the [pyav] extra) against OpenCV's, on
videos made from the real HeLa frames: the same frames, pixel for pixel,
and the same timestamps."""

import os
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="the videos are written and read back with OpenCV")

from fassst_rt import Segmenter  # noqa: E402
from fassst_rt.sources import open_source  # noqa: E402
from support import subprocess_env  # noqa: E402

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny", "tiny.onnx")
HEIGHT, WIDTH = 350, 550  # a corner of the 1100 x 700 frames: even sizes for 4:2:0 video


def hela_frames(count):
    from reference import stored_results as stored
    folder = stored.data_dir()
    paths = [folder / "hela_t{:02d}.png".format(t) for t in range(count)]
    if not all(p.is_file() for p in paths):
        pytest.skip("real data not fetched (fassst-rt data fetch)")
    return [cv2.imread(str(p))[:HEIGHT, :WIDTH].copy() for p in paths]


def write_mjpg(path, frames, fps=5):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    for f in frames:
        writer.write(f)
    writer.release()


def write_y4m(path, frames, fps=15):
    """YUV4MPEG2, 4:2:0: each frame's grey level as luma, neutral chroma."""
    with open(str(path), "wb") as out:
        out.write("YUV4MPEG2 W{} H{} F{}:1 Ip A1:1 C420jpeg\n".format(WIDTH, HEIGHT, fps).encode())
        for f in frames:
            luma = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
            out.write(b"FRAME\n" + luma.tobytes() + bytes([128]) * (WIDTH * HEIGHT // 2))


def read_all(source):
    frames, stamps = [], []
    while True:
        item = source.read()
        if item is None:
            source.close()
            return frames, stamps
        frames.append(item[0])
        stamps.append(item[1])


@pytest.mark.parametrize("kind", ["mjpg", "y4m"])
def test_pyav_gives_the_frames_and_timestamps_opencv_gives(tmp_path, kind):
    pytest.importorskip("av", reason="the PyAV reader needs the av package (the [pyav] extra)")
    frames = hela_frames(5)
    video = tmp_path / ("hela.avi" if kind == "mjpg" else "hela.y4m")
    (write_mjpg if kind == "mjpg" else write_y4m)(video, frames)
    by_opencv, stamps_opencv = read_all(open_source(str(video)))
    source = open_source(str(video), reader="pyav")
    assert not source.live and source.name == str(video)
    by_pyav, stamps_pyav = read_all(source)
    assert len(by_pyav) == len(by_opencv) == 5
    for a, b in zip(by_opencv, by_pyav):
        assert b.dtype == np.uint8 and b.shape == (HEIGHT, WIDTH, 3)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(stamps_pyav, stamps_opencv, atol=1e-6)
    np.testing.assert_allclose(stamps_pyav, np.arange(5) / (5.0 if kind == "mjpg" else 15.0), atol=1e-6)
    # the decoded frames are the HeLa frames: up to MJPG's loss; y4m's luma as
    # video range (16 to 235), which both readers stretch to 0 to 255
    want = frames[2].astype(float)
    if kind == "y4m":
        want = np.clip((cv2.cvtColor(frames[2], cv2.COLOR_BGR2GRAY)[:, :, None] - 16.0) * 255 / 219, 0, 255)
    assert np.abs(by_pyav[2] - want).mean() < 3


def test_a_stream_and_the_cli_read_through_pyav(tmp_path):
    pytest.importorskip("av", reason="the PyAV reader needs the av package (the [pyav] extra)")
    video = tmp_path / "hela.avi"
    write_mjpg(video, hela_frames(3))
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        want = list(seg.stream(str(video)))
        got = list(seg.stream(str(video), reader="pyav"))
    assert [r.frame for r in got] == [0, 1, 2]
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g.instances.boxes, w.instances.boxes)
        assert g.timestamp == pytest.approx(w.timestamp)
    r = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "track", str(video), "--model", TINY,
                        "--reader", "pyav", "--jsonl", str(tmp_path / "out.jsonl")],
                       capture_output=True, text=True, env=subprocess_env(), cwd=str(tmp_path), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "3 frames: 3 ok" in r.stdout
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3


def test_bad_readers_and_unreadable_files_are_refused_naming_them(tmp_path):
    with pytest.raises(ValueError, match="reader must be one of opencv, pyav, got 'ffmpeg'"):
        open_source(str(tmp_path), reader="ffmpeg")
    with pytest.raises(ValueError, match="GStreamer pipelines are read by OpenCV, not reader='pyav'"):
        open_source("gst:videotestsrc ! appsink", reader="pyav")
    pytest.importorskip("av", reason="the PyAV reader needs the av package (the [pyav] extra)")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(ValueError, match="junk.mp4: PyAV cannot open this video"):
        open_source(str(junk), reader="pyav")
