"""Several sources in one stream (cameras): each step batches one frame of
every source into the same frame-graph call, each source keeps its own
order and tracker, and sources that end early or fail are handled."""

import os
import threading
import time

import numpy as np
import pytest

from fassst_rt import Segmenter
from fassst_rt.backends.onnxruntime_backend import OnnxRuntimeBackend
from fassst_rt.sources import FrameIterable, open_sources
from fassst_rt.tracking import Tracker
from support import ExplodingSource, StallingSource

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny", "tiny.onnx")


def native_threads():
    return len(os.listdir("/proc/self/task"))


class BatchRecordingBackend(OnnxRuntimeBackend):
    """The ONNX Runtime backend, recording the batch size of each frame-graph call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches = []
        self.lock = threading.Lock()

    def run_frame(self, images):
        with self.lock:
            self.batches.append(int(images.shape[0]))
        return super().run_frame(images)


def assert_close(want, got):
    # a frame batched with another source's frame is the same arithmetic up to
    # the backend's batch-dependent rounding (as run_batch against run)
    assert len(got) == len(want)
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)
    np.testing.assert_allclose(got.boxes, want.boxes, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(got.box_masks, want.box_masks, atol=1e-4)


def frames_of(rng, n, shape):
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def by_source(results, count):
    out = [[] for _ in range(count)]
    for r in results:
        out[r.source_index].append(r)
    return out


@pytest.mark.parametrize("tile", [False, (64, 16)])
def test_each_step_batches_a_frame_of_every_source_into_one_frame_graph_call(rng, tile):
    a, b = frames_of(rng, 3, (150, 200, 3)), frames_of(rng, 5, (120, 90, 3))
    backend = BatchRecordingBackend(TINY, device="cpu")
    with Segmenter(backend, score_threshold=0.0, tile=tile, max_batch=64) as seg:
        want_a, want_b = [seg.run(f) for f in a], [seg.run(f) for f in b]
        crops_a, crops_b = (int(w[0].timings.get("tiles", 1)) for w in (want_a, want_b))
        backend.batches.clear()
        results = list(seg.stream([FrameIterable(a, "cam a"), FrameIterable(b, "cam b")], queue_size=2))
    # source a ends after 3 steps; b goes on alone
    assert backend.batches == [crops_a + crops_b] * 3 + [crops_b] * 2
    assert [r.source_index for r in results] == [0, 1] * 3 + [1, 1]  # a step's results in source order
    got_a, got_b = by_source(results, 2)
    assert [r.frame for r in got_a] == [0, 1, 2] and [r.frame for r in got_b] == [0, 1, 2, 3, 4]
    assert {r.source for r in got_a} == {"cam a"} and {r.source for r in got_b} == {"cam b"}
    for frames, want, got in ((a, want_a, got_a), (b, want_b, got_b)):
        for f, w, r in zip(frames, want, got):
            assert_close(w, r.instances)
            np.testing.assert_array_equal(r.image, f)
    assert len(want_a[0]) > 0


def test_chunks_of_a_step_follow_max_batch(rng):
    sources = [FrameIterable(frames_of(rng, 2, (100, 100, 3)), "cam {}".format(i)) for i in range(5)]
    backend = BatchRecordingBackend(TINY, device="cpu")
    with Segmenter(backend, score_threshold=0.0, tile=False, max_batch=2) as seg:
        results = list(seg.stream(sources))
    assert backend.batches == [2, 2, 1] * 2  # five frames a step, in calls of at most two
    assert [(r.source_index, r.frame) for r in results] == [(s, f) for f in range(2) for s in range(5)]


def test_each_source_has_its_own_tracker(rng):
    base = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    right = [np.roll(base, 2 * i, axis=1) for i in range(5)]
    down = [np.roll(base[::-1], 2 * i, axis=0) for i in range(5)]
    options = dict(high_threshold=0.0, low_threshold=0.0, new_track_threshold=0.0, min_hits=1)
    with Segmenter(TINY, device="cpu", score_threshold=0.0, tile=False) as seg:
        want = []
        for frames in (right, down):
            tracker = Tracker(**options)
            want.append([tracker.update(seg.run(f)) for f in frames])
        results = list(seg.stream([FrameIterable(right, "right"), FrameIterable(down, "down")],
                                  track=Tracker(**options)))
    for s, got in enumerate(by_source(results, 2)):
        assert len(got) == 5
        for w, r in zip(want[s], got):
            np.testing.assert_array_equal(r.instances.track_ids, w)
    assert max(int(ids.max()) for ids in want[1]) >= 1


def test_a_failing_source_ends_the_stream_after_the_frames_read_before_it(rng):
    frames = frames_of(rng, 6, (80, 100, 3))
    with Segmenter(TINY, device="cpu", tile=False, num_threads=1) as seg:
        with_session = native_threads()
        stream = seg.stream([FrameIterable(frames, "steady"), ExplodingSource(frames, after=2)], queue_size=1)
        seen = []
        t0 = time.monotonic()
        with pytest.raises(OSError, match="the camera fell off"):
            for r in stream:
                seen.append((r.source_index, r.frame))
        assert time.monotonic() - t0 < 30
        steady, exploding = ([f for s, f in seen if s == i] for i in (0, 1))
        assert exploding == [0, 1]
        # the steady source's frames read before the error are delivered in order, no more than were
        # queued; its frame 0 came in the first step with the other's (throughput mode waits for both),
        # its frame 1 only if it was read before the error came
        assert steady == list(range(len(steady))) and 1 <= len(steady) <= 4
        assert native_threads() <= with_session  # every stream thread joined
        seg.run(frames[0])  # the Segmenter is free again


class LiveCamera:
    live = True

    def __init__(self, frames, name, period=0.002, limit=None):
        self.frames, self.name, self.period, self.limit = frames, name, period, limit
        self.index = 0

    def read(self):
        time.sleep(self.period)
        self.index += 1
        if self.limit is not None and self.index > self.limit:
            return None
        return self.frames[self.index % len(self.frames)], time.time()


class SlowFrameGraph(OnnxRuntimeBackend):
    def run_frame(self, images):
        time.sleep(0.02)
        return super().run_frame(images)


def test_latency_mode_takes_the_ready_frames_and_no_camera_waits_for_another(rng):
    frames = frames_of(rng, 3, (80, 100, 3))
    with Segmenter(SlowFrameGraph(TINY, device="cpu"), tile=False) as seg:
        t0 = time.monotonic()
        results = []
        for r in seg.stream([StallingSource(frames[0], stall_s=1.5, ends_after_stall=True), LiveCamera(frames, "fast", limit=150)], mode="latency"):
            results.append(r)
        elapsed = time.monotonic() - t0
    stalled, fast = by_source(results, 2)
    assert [r.frame for r in stalled] == [0]
    indices = [r.frame for r in fast]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    dropped = sum(r.dropped for r in fast)
    assert dropped > 0 and len(fast) + dropped <= 150 and all(r.dropped == 0 for r in stalled)
    # the fast camera's results kept coming while the other one stalled
    assert len([r for r in fast if r.timestamp < stalled[0].timestamp + 1.0]) >= 5
    assert elapsed < 20


def test_leaving_a_stream_of_several_cameras_joins_every_thread(rng):
    frames = frames_of(rng, 3, (80, 100, 3))
    before = native_threads()
    with Segmenter(TINY, device="cpu", num_threads=1, tile=False) as seg:
        with_session = native_threads()
        stream = seg.stream([LiveCamera(frames, "a"), LiveCamera(frames, "b"), LiveCamera(frames, "c")],
                            mode="latency")
        seen = {next(stream).source_index for _ in range(12)}
        assert seen == {0, 1, 2}
        stream.close()
        assert native_threads() <= with_session
        seg.run(frames[0])
    assert native_threads() <= before + 1


def test_a_list_of_sources_is_told_from_a_list_of_frames(rng, tmp_path):
    frames = frames_of(rng, 2, (40, 50, 3))
    assert len(open_sources(frames)) == 1  # frames: one source
    assert len(open_sources([FrameIterable(frames), FrameIterable(frames)])) == 2
    with pytest.raises(TypeError, match=r"sources\[1\]: a list of sources holds paths.*got ndarray"):
        open_sources([FrameIterable(frames), frames[0]])
    with pytest.raises(FileNotFoundError, match="nowhere.mp4: no such file"):
        open_sources([FrameIterable(frames), str(tmp_path / "nowhere.mp4")])


class IntervalBackend(OnnxRuntimeBackend):
    """The ONNX Runtime backend, recording when each graph call ran (and
    taking a little longer, so that overlapping calls would show)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []
        self.lock = threading.Lock()

    def _timed(self, kind, call, *args):
        t0 = time.monotonic()
        time.sleep(0.02)
        out = call(*args)
        with self.lock:
            self.calls.append((kind, t0, time.monotonic()))
        return out

    def run_frame(self, images):
        return self._timed("frame", super().run_frame, images)

    def run_tail(self, rois):
        return self._timed("tail", super().run_tail, rois)


def overlapping(calls):
    frames = [c for c in calls if c[0] == "frame"]
    tails = [c for c in calls if c[0] == "tail"]
    return sum(1 for f in frames for t in tails if f[1] < t[2] and t[1] < f[2])


@pytest.mark.parametrize("mode", ["throughput", "latency"])
def test_without_overlap_one_step_runs_at_a_time(rng, mode):
    frames = frames_of(rng, 6, (90, 120, 3))
    counts = {}
    for overlap in (True, False):
        backend = IntervalBackend(TINY, device="cpu")
        with Segmenter(backend, score_threshold=0.0, tile=False) as seg:
            want = [seg.run(f) for f in frames]
            backend.calls.clear()
            got = list(seg.stream(frames, mode=mode, overlap=overlap))
        assert [r.frame for r in got] == list(range(6))
        for w, r in zip(want, got):
            np.testing.assert_array_equal(r.instances.boxes, w.boxes)
        assert sum(1 for c in backend.calls if c[0] == "tail") >= 6
        counts[overlap] = overlapping(backend.calls)
    assert counts[False] == 0, "a frame graph ran while the frame before it was finished"
    assert counts[True] > 0, "with overlap, frame graphs and tails run at the same time"
    with Segmenter(TINY, device="cpu") as seg:
        with pytest.raises(TypeError, match="overlap must be True or False, got 'no'"):
            seg.stream(frames, overlap="no")
