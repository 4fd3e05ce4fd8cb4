"""Streams (Segmenter.stream, the C++ core's fassst::Stream): the steps
overlapped on threads give exactly run()'s instances, in order; errors of the
source and of the backend reach the caller; latency mode drops a live
source's stale frames and says so; a stream can be left at any time without
leaving a thread behind."""

import os
import threading
import time

import numpy as np
import pytest

from fassst_rt import Segmenter
from fassst_rt.backends.onnxruntime_backend import OnnxRuntimeBackend
from fassst_rt.sources import open_source
from support import ExplodingSource, StallingSource

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny", "tiny.onnx")


def native_threads():
    return len(os.listdir("/proc/self/task"))


def frames_of(rng, n, shape=(150, 200, 3)):
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def assert_same(a, b):
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.box_masks, b.box_masks)


@pytest.mark.parametrize("tile", [False, (64, 16)])
def test_throughput_mode_gives_runs_instances_in_order(rng, tile):
    frames = frames_of(rng, 7)
    with Segmenter(TINY, device="cpu", score_threshold=0.0, tile=tile, max_batch=3) as seg:
        want = [seg.run(f) for f in frames]
        got = list(seg.stream(frames, queue_size=2))
    assert [r.frame for r in got] == list(range(len(frames)))
    for w, r in zip(want, got):
        assert_same(w, r.instances)
        assert r.dropped == 0 and r.latency_ms >= 0 and r.timestamp > 0
    assert len(got[0].instances) > 0


def test_a_source_error_reaches_the_caller_after_the_frames_before_it(rng):
    frames = frames_of(rng, 5)
    with Segmenter(TINY, device="cpu") as seg:
        stream = seg.stream(ExplodingSource(frames, after=3), queue_size=1)
        seen = []
        with pytest.raises(OSError, match="the camera fell off"):
            for r in stream:
                seen.append(r.frame)
        assert seen == [0, 1, 2]  # the frames read before the error, then the error
        assert len(seg.run(frames[0]).boxes) >= 0  # the Segmenter is free again


class FailingFrameGraph(OnnxRuntimeBackend):
    def run_frame(self, images):
        raise RuntimeError("out of GPU memory")


def test_a_backend_error_reaches_the_caller(rng):
    with Segmenter(FailingFrameGraph(TINY, device="cpu")) as seg:
        with pytest.raises(RuntimeError, match="out of GPU memory"):
            list(seg.stream(frames_of(rng, 3)))


class LiveCamera:
    """A live source: a new frame every `period` seconds, whether read or not."""

    live = True
    name = "test camera"

    def __init__(self, frames, period=0.002, limit=None):
        self.frames, self.period, self.limit = frames, period, limit
        self.index = 0
        self.start = time.monotonic()

    def read(self):
        time.sleep(self.period)
        self.index += 1
        if self.limit is not None and self.index > self.limit:
            return None
        return self.frames[self.index % len(self.frames)], time.time()


class SlowTail(OnnxRuntimeBackend):
    def run_frame(self, images):
        time.sleep(0.03)
        return super().run_frame(images)


def test_latency_mode_drops_stale_live_frames_and_counts_them(rng):
    with Segmenter(SlowTail(TINY, device="cpu")) as seg:
        results = list(seg.stream(LiveCamera(frames_of(rng, 4), limit=200), mode="latency"))
    indices = [r.frame for r in results]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    dropped = sum(r.dropped for r in results)
    assert dropped > 0 and len(results) + dropped <= 200
    # each result is a recent frame: well under the time a queue of stale frames would take
    assert max(r.latency_ms for r in results) < 1000


def test_latency_mode_on_a_file_source_loses_no_frame(rng):
    frames = frames_of(rng, 6)
    with Segmenter(SlowTail(TINY, device="cpu")) as seg:
        results = list(seg.stream(frames, mode="latency"))
    assert [r.frame for r in results] == list(range(6)) and all(r.dropped == 0 for r in results)


def test_leaving_a_stream_early_joins_its_threads_and_frees_the_segmenter(rng):
    before = native_threads()
    with Segmenter(TINY, device="cpu", num_threads=1) as seg:
        threads_with_session = native_threads()
        stream = seg.stream(LiveCamera(frames_of(rng, 3)), mode="latency")
        first = next(stream)
        assert first.frame >= 0
        with pytest.raises(ValueError, match="a Stream is running on this Segmenter"):
            seg.run(frames_of(rng, 1)[0])
        t0 = time.monotonic()
        stream.close()
        assert time.monotonic() - t0 < 2.0
        assert native_threads() <= threads_with_session
        assert list(stream) == []
        seg.run(frames_of(rng, 1)[0])  # free again
    assert native_threads() <= before + 1


def test_closing_the_segmenter_stops_its_streams(rng):
    seg = Segmenter(TINY, device="cpu")
    stream = seg.stream(LiveCamera(frames_of(rng, 2)))
    next(stream)
    seg.close()
    assert list(stream) == []


def test_bad_stream_arguments_are_refused_naming_them(rng):
    with Segmenter(TINY, device="cpu") as seg:
        with pytest.raises(ValueError, match="mode must be 'throughput' or 'latency', got 'fast'"):
            seg.stream(frames_of(rng, 1), mode="fast")
        with pytest.raises(ValueError, match=r"queue_size must be in \[1, 64\], got 0"):
            seg.stream(frames_of(rng, 1), queue_size=0)
        with pytest.raises(FileNotFoundError, match="nowhere.mp4: no such file"):
            seg.stream("/nowhere.mp4")
        bad = [np.zeros((4, 4), np.float32)]
        with pytest.raises(TypeError, match="frame must be uint8"):
            list(seg.stream(bad))


def test_folder_and_video_sources(tmp_path, rng):
    cv2 = pytest.importorskip("cv2")
    frames = frames_of(rng, 4, (64, 96, 3))
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / "f{:02d}.png".format(i)), f)
    video = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 64))
    for f in frames:
        writer.write(f)
    writer.release()
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        from_folder = list(seg.stream(str(tmp_path)))
        assert len(from_folder) == 4
        for f, r in zip(frames, from_folder):
            assert_same(seg.run(f), r.instances)
        from_video = list(seg.stream(video))
    assert [r.frame for r in from_video] == [0, 1, 2, 3]
    assert [round(r.timestamp, 2) for r in from_video] == [0.0, 0.1, 0.2, 0.3]
    source = open_source(str(tmp_path))
    assert not source.live and source.name == str(tmp_path)


def test_a_tracking_stream_gives_the_ids_a_tracker_gives_on_runs_results(rng):
    from fassst_rt.tracking import Tracker
    base = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    frames = [np.roll(base, shift=2 * i, axis=1) for i in range(6)]  # the scene drifts right
    options = dict(high_threshold=0.0, low_threshold=0.0, new_track_threshold=0.0, min_hits=1)
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        tracker = Tracker(**options)
        want = []
        for f in frames:
            inst = seg.run(f)
            want.append(tracker.update(inst))
        got = list(seg.stream(frames, track=Tracker(**options)))
        untracked = next(iter(seg.stream(frames[:1])))
    assert untracked.instances.track_ids is None
    assert sum(int((ids >= 1).sum()) for ids in want) > 0, "the scene should give tracks"
    for w, r in zip(want, got):
        np.testing.assert_array_equal(r.instances.track_ids, w)
    with Segmenter(TINY, device="cpu") as seg:
        with pytest.raises(TypeError, match="track must be True, False or a fassst_rt.tracking.Tracker"):
            seg.stream(frames, track="yes")


def test_ctrl_c_reaches_a_caller_waiting_on_a_stalled_stream(rng):
    import signal
    with Segmenter(TINY, device="cpu") as seg:
        stream = seg.stream(StallingSource(frames_of(rng, 1)[0], stall_s=1.0), mode="latency")
        next(stream)
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        t0 = time.monotonic()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            next(stream)
        assert time.monotonic() - t0 < 0.9, "the interrupt waited for the stalled source"
        stream.close()  # joins once the stalled read returns
        seg.run(frames_of(rng, 1)[0])


def test_a_step_too_large_to_prepare_ahead_is_prepared_call_by_call_with_the_same_results(rng):
    # 16 MiB leaves a quarter for frame-graph inputs held ahead: far fewer than
    # these frames' 100+ tiles, so the finishing thread prepares each call
    frames = frames_of(rng, 3, shape=(400, 600, 3))
    with Segmenter(TINY, device="cpu", score_threshold=0.0, max_instances=2, tile=(64, 16),
                   memory_budget_mib=16) as seg:
        want = [seg.run(f) for f in frames]
        got = list(seg.stream(frames, queue_size=1))
    assert want[0].timings["tiles"] > 100
    for w, r in zip(want, got):
        assert_same(w, r.instances)


def test_a_frame_over_the_memory_budget_ends_the_stream_with_the_numbers(rng):
    frames = [frames_of(rng, 1)[0], np.zeros((2400, 2400), np.uint8)]
    with Segmenter(TINY, device="cpu", memory_budget_mib=16) as seg:
        seen = []
        with pytest.raises(MemoryError, match=r"frame 1: a 2400 x 2400 frame is too large for memory_budget_mib = 16: "
                                              r"converting to 3 channels holds 16\.5 MiB"):
            for r in seg.stream(frames, queue_size=1):
                seen.append(r.frame)
    assert seen == [0]
