"""fassst_rt/atomic.py and the writers built on it: a write that fails midway,
or a process killed while writing, leaves the old file intact (or no file)."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fassst_rt import atomic

from support import huge_png_header

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WriterFailed(Exception):
    pass


def leftovers(folder):
    return sorted(n for n in os.listdir(str(folder)) if atomic.is_temporary(n))


def test_a_writer_that_fails_midway_leaves_the_old_file(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old and good")
    with pytest.raises(WriterFailed):
        with atomic.atomic_open(target) as f:
            f.write("{\"half\": ")
            f.flush()
            raise WriterFailed()
    assert target.read_text() == "old and good"
    assert os.listdir(str(tmp_path)) == ["result.json"]


def test_a_failed_first_write_leaves_no_file(tmp_path):
    target = tmp_path / "sub" / "new.bin"
    with pytest.raises(WriterFailed):
        with atomic.atomic_path(target) as temporary:
            with open(temporary, "wb") as f:
                f.write(b"x" * 1000)
            raise WriterFailed()
    assert os.listdir(str(tmp_path / "sub")) == []


def test_success_replaces_with_the_permissions_of_a_plain_write(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    atomic.atomic_write_text(target, "new")
    assert target.read_text() == "new"
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert os.stat(str(target)).st_mode == os.stat(str(plain)).st_mode
    atomic.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert leftovers(tmp_path) == []


def test_the_temporary_keeps_the_extension_for_format_picking_writers(tmp_path):
    with atomic.atomic_path(tmp_path / "overlay.png") as temporary:
        assert os.path.dirname(temporary) == str(tmp_path)
        assert temporary.endswith(".png") and os.path.basename(temporary).startswith(".overlay.png.tmp-")
        open(temporary, "wb").close()


def test_a_folder_is_not_a_target(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        atomic.atomic_write_text(tmp_path, "x")


def test_a_process_killed_mid_write_leaves_the_old_file(tmp_path):
    """SIGKILL cannot be caught: the temporary file stays behind, the target
    does not change, and remove_stale_temporaries clears what was left."""
    target = tmp_path / "big.bin"
    target.write_bytes(b"old" * 100)
    code = textwrap.dedent("""
        import sys, time
        from fassst_rt.atomic import atomic_open
        with atomic_open(sys.argv[1], "wb") as f:
            f.write(b"n" * (1 << 20))
            f.flush()
            print("half written", flush=True)
            time.sleep(60)
            f.write(b"n" * (1 << 20))
    """)
    from support import subprocess_env
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, env=subprocess_env(),
                            cwd=str(tmp_path.parent))  # not the checkout: it must not shadow the package under test
    try:
        assert proc.stdout.readline().strip() == b"half written"
        stale = leftovers(tmp_path)
        assert len(stale) == 1 and os.path.getsize(str(tmp_path / stale[0])) == 1 << 20
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert target.read_bytes() == b"old" * 100
    assert atomic.remove_stale_temporaries(tmp_path) == 1
    assert os.listdir(str(tmp_path)) == ["big.bin"]


def test_staged_files_appear_together_or_not_at_all(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"old frame")
    (tmp_path / "m.tail.onnx").write_bytes(b"old tail")
    targets = [tmp_path / "m.tail.onnx", tmp_path / "m.onnx"]
    # a writer that fails after the first file: neither changes
    with pytest.raises(WriterFailed):
        with atomic.staged_files(targets) as (tail, frame):
            assert os.path.basename(frame) == "m.onnx" and os.path.dirname(frame) == os.path.dirname(tail)
            open(tail, "wb").write(b"new tail")
            raise WriterFailed()
    # a writer that forgets one file: neither changes
    with pytest.raises(FileNotFoundError, match="did not produce m.onnx"):
        with atomic.staged_files(targets) as (tail, frame):
            open(tail, "wb").write(b"new tail")
    assert (tmp_path / "m.onnx").read_bytes() == b"old frame"
    assert (tmp_path / "m.tail.onnx").read_bytes() == b"old tail"
    with atomic.staged_files(targets) as (tail, frame):
        open(tail, "wb").write(b"new tail")
        open(frame, "wb").write(b"new frame")
    assert (tmp_path / "m.onnx").read_bytes() == b"new frame"
    assert (tmp_path / "m.tail.onnx").read_bytes() == b"new tail"
    assert sorted(os.listdir(str(tmp_path))) == ["m.onnx", "m.tail.onnx"]
    with pytest.raises(ValueError, match="share one folder"):
        with atomic.staged_files([tmp_path / "a", tmp_path / "sub" / "b"]):
            pass


# ------------------------------------------------------------------ images and videos

@pytest.fixture
def opencv():
    return pytest.importorskip("cv2")


def test_staged_folder_replaces_a_folder_whole_or_not_at_all(tmp_path):
    target = tmp_path / "entry"
    with atomic.staged_folder(str(target)) as staging:
        assert not target.exists()  # nothing at the target while the folder is written
        os.makedirs(os.path.join(staging, "1"))
        with open(os.path.join(staging, "1", "a.txt"), "w") as f:
            f.write("first")
    assert (target / "1" / "a.txt").read_text() == "first"
    assert oct(target.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # not mkdtemp's private 0o700
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic.staged_folder(str(target)) as staging:
            with open(os.path.join(staging, "b.txt"), "w") as f:
                f.write("second")
            raise RuntimeError("writer failed")
    assert sorted(os.listdir(str(target))) == ["1"]  # the old folder, untouched
    with atomic.staged_folder(str(target)) as staging:
        with open(os.path.join(staging, "b.txt"), "w") as f:
            f.write("second")
    assert sorted(os.listdir(str(target))) == ["b.txt"]  # replaced, not merged
    assert sorted(os.listdir(str(tmp_path))) == ["entry"]  # no staging or old folder left
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file: is a file; a folder path was expected"):
        with atomic.staged_folder(str(tmp_path / "file")):
            pass


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_image_is_atomic_and_wraps_opencv_errors(tmp_path, opencv):
    from fassst_rt import opencv_io

    target = tmp_path / "overlay.png"
    good = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    opencv_io.write_image(str(target), good)
    np.testing.assert_array_equal(opencv_io.read_image(str(target)), good)
    before = target.read_bytes()
    # OpenCV refuses these while encoding: cv2.error must not escape, the old file must stay
    for path, image, why in ((target, np.zeros((4, 4, 7), np.uint8), "could not encode"),
                             (target, np.zeros((0, 4, 3), np.uint8), "could not encode"),
                             (tmp_path / "overlay.xyz", good, "could not encode this image as .xyz"),
                             (tmp_path / "overlay", good, "no file extension")):
        with pytest.raises(opencv_io.ImageIOError, match=why) as info:
            opencv_io.write_image(str(path), image)
        assert str(path) in str(info.value)
        assert not isinstance(info.value, opencv.error)
    assert target.read_bytes() == before
    assert sorted(os.listdir(str(tmp_path))) == ["overlay.png"]


def test_read_image_wraps_opencv_errors_naming_the_file(tmp_path, opencv):
    from fassst_rt import opencv_io

    huge = tmp_path / "huge.png"
    huge_png_header(huge)
    with pytest.raises(opencv.error):  # what OpenCV itself does with this file
        opencv.imread(str(huge), opencv.IMREAD_UNCHANGED)
    with pytest.raises(opencv_io.ImageIOError, match=r"huge\.png: OpenCV could not decode this image .*"
                                                     r"CV_IO_MAX_IMAGE_PIXELS"):
        opencv_io.read_image(str(huge))
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not a png")
    with pytest.raises(opencv_io.ImageIOError, match=r"garbage\.png: not an image OpenCV can read"):
        opencv_io.read_image(str(garbage))
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(opencv_io.ImageIOError, match=r"folder\.png: not a regular file"):
        opencv_io.read_image(str(tmp_path / "folder.png"))
    fifo = tmp_path / "fifo.png"
    os.mkfifo(str(fifo))
    with pytest.raises(opencv_io.ImageIOError, match=r"fifo\.png: not a regular file"):
        opencv_io.read_image(str(fifo))  # refused at once, not read forever


def test_a_video_appears_only_when_closed(tmp_path, opencv):
    from fassst_rt import opencv_io

    target = tmp_path / "annotated.mp4"
    target.write_bytes(b"the previous video")
    frame = np.full((48, 64, 3), 90, np.uint8)
    with pytest.raises(WriterFailed):
        with opencv_io.video_writer(str(target), 10.0, 64, 48) as writer:
            for _ in range(3):
                writer.write(frame)
            raise WriterFailed()
    assert target.read_bytes() == b"the previous video"
    assert leftovers(tmp_path) == []
    writer = opencv_io.video_writer(str(target), 10.0, 64, 48)
    with pytest.raises(opencv_io.ImageIOError, match=r"frame of shape \(10, 10, 3\) in a 64x48 video"):
        writer.write(np.zeros((10, 10, 3), np.uint8))
    for _ in range(4):
        writer.write(frame)
    assert target.read_bytes() == b"the previous video"
    writer.close()
    capture = opencv.VideoCapture(str(target))
    assert int(capture.get(opencv.CAP_PROP_FRAME_COUNT)) == 4
    capture.release()
    assert sorted(os.listdir(str(tmp_path))) == ["annotated.mp4"]
