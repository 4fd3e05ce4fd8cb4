"""The runtime on the tiny test model (tests/data/tiny, random weights; made by
tools/make_test_model.py): the pipeline's contract, batching, tiling, threads,
results and bad input. Runs without PyTorch (Python 3.8 too)."""

import json
import os
import shutil
import threading

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the ONNX Runtime backend needs onnxruntime")

from fassst_rt import Segmenter  # noqa: E402
from fassst_rt.backends import ModelError  # noqa: E402
from fassst_rt.metadata import MetadataError  # noqa: E402

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny", "tiny.onnx")


@pytest.fixture(scope="module")
def segmenter():
    with Segmenter(TINY, device="cpu", num_threads=1) as s:
        yield s


@pytest.fixture
def frame():
    return np.random.default_rng(0).integers(0, 256, (120, 180, 3), dtype=np.uint8)


class CountingTail:
    """Wraps a backend's run_tail to count calls (the real tail still runs)."""

    def __init__(self, backend):
        self.backend, self.calls, self.sizes = backend, 0, []
        self._orig = backend.run_tail
        backend.run_tail = self

    def __call__(self, rois):
        self.calls += 1
        self.sizes.append(len(rois))
        return self._orig(rois)

    def restore(self):
        self.backend.run_tail = self._orig


def test_every_cell_becomes_an_instance_at_threshold_zero(frame):
    with Segmenter(TINY, device="cpu", score_threshold=0.0, nms_threshold=1.0) as s:
        n = s.metadata.num_cells
        counter = CountingTail(s.backend)
        result = s.run(frame)
        counter.restore()
    assert len(result) == n and counter.sizes == [n]  # K = n: one tail call on all cells
    assert result.boxes.shape == (n, 4) and result.box_masks.shape == (n, 32, 32)
    assert result.masks.shape == (n, 120, 180) and result.masks.dtype == bool
    assert ((result.boxes >= 0) & (result.boxes <= [180, 120, 180, 120])).all()
    assert set(result.timings) >= {"preprocess", "frame", "select", "rff_tail", "paste"}


def test_no_instance_means_no_tail_call(segmenter, frame):
    counter = CountingTail(segmenter.backend)
    try:
        with Segmenter(TINY, device="cpu", score_threshold=1.0) as strict:
            result = strict.run(frame)
        # the shared segmenter: its own threshold (0.3) on a random model keeps nothing either
        empty = segmenter.run(frame)
    finally:
        counter.restore()
    assert len(result) == 0 and result.masks.shape == (0, 120, 180)
    assert len(empty) == 0 and counter.calls == 0
    assert json.loads(result.to_json())["instances"] == []


def test_run_batch_equals_single_runs(frame):
    other = np.random.default_rng(1).integers(0, 256, (90, 60, 3), dtype=np.uint8)
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as s:
        batch = s.run_batch([frame, other])
        singles = [s.run(frame), s.run(other)]
    for a, b in zip(batch, singles):
        np.testing.assert_allclose(a.boxes, b.boxes, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(a.box_masks, b.box_masks, atol=1e-4)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_channel_order_and_grey_frames(frame):
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as bgr, \
            Segmenter(TINY, device="cpu", score_threshold=0.0, channel_order="rgb") as rgb:
        a = bgr.run(frame)
        b = rgb.run(np.ascontiguousarray(frame[:, :, ::-1]))
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        grey = frame[:, :, 0]
        np.testing.assert_allclose(bgr.run(grey).boxes, bgr.run(np.dstack([grey] * 3)).boxes, atol=1e-3)
        rgba = np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])
        np.testing.assert_allclose(bgr.run(rgba).boxes, a.boxes, atol=1e-3)
        wide = (frame[:, :, 0].astype(np.uint16) * 257)
        assert len(bgr.run(wide)) == bgr.metadata.num_cells  # the model's 16-bit rule maps it


def test_tiled_run_covers_the_frame_and_keeps_instances_in_frame_coordinates():
    big = np.random.default_rng(2).integers(0, 256, (300, 420, 3), dtype=np.uint8)
    with Segmenter(TINY, device="cpu", score_threshold=0.0, nms_threshold=0.5, tile=(128, 32)) as s:
        tiled = s.run(big)
        whole = s.run(big, tile=False)
    assert tiled.timings["tiles"] == 15.0  # 3 rows x 5 columns of 128 px tiles, >= 32 px overlap
    assert len(whole) <= s.metadata.num_cells < len(tiled)
    assert ((tiled.boxes >= 0) & (tiled.boxes <= [420, 300, 420, 300])).all()
    assert tiled.masks.shape == (len(tiled), 300, 420)
    # after the cross-tile NMS no two instances of a class overlap beyond the NMS threshold
    from fassst_rt.parity import _iou
    for i in range(len(tiled)):
        for j in range(i + 1, len(tiled)):
            if tiled.labels[i] == tiled.labels[j]:
                assert _iou(tiled.boxes[i], tiled.boxes[j]) <= 0.5 + 1e-6


def test_one_segmenter_shared_by_threads_gives_sequential_results(frame):
    frames = [np.roll(frame, 7 * i, axis=1) for i in range(6)]
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as s:
        expected = [s.run(f).boxes for f in frames]
        got = [None] * len(frames)

        def work(i):
            got[i] = s.run(frames[i]).boxes

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(frames))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


def test_instances_outputs(frame):
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as s:
        result = s.run(frame)
    doc = json.loads(result.to_json())
    assert len(doc["instances"]) == len(result)
    assert doc["instances"][0]["name"] in ("disc", "square")
    overlay = result.plot(frame)
    assert overlay.shape == frame.shape and overlay.dtype == np.uint8 and not np.array_equal(overlay, frame)
    mask_util = pytest.importorskip("pycocotools.mask", reason="pycocotools checks the RLE")
    for rle, mask in zip(result.rle(), result.masks):
        compressed = mask_util.frPyObjects(rle, *rle["size"])
        np.testing.assert_array_equal(mask_util.decode(compressed).astype(bool), mask)


@pytest.mark.parametrize("bad,error,pattern", [
    (np.zeros((10, 10, 3), np.float32), TypeError, r"frame must be uint8"),
    (np.zeros((10, 10, 2), np.uint8), ValueError, r"frame must have shape"),
    (np.zeros((0, 10, 3), np.uint8), ValueError, r"frame is empty"),
    (np.zeros((4, 10, 10, 3), np.uint8), ValueError, r"frame must have shape"),
    ("frame.png", TypeError, r"frame must be a NumPy array"),
    (np.zeros((10, 10, 3), np.uint16), ValueError, r"16-bit frames must be single-channel"),
])
def test_bad_frames_are_clear_errors(segmenter, bad, error, pattern):
    with pytest.raises(error, match=pattern):
        segmenter.run(bad)


def test_bad_model_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.onnx: the model's frame graph does not exist"):
        Segmenter(str(tmp_path / "nope.onnx"))
    with pytest.raises(ModelError, match=r"unknown model file suffix '.pt'"):
        Segmenter(str(tmp_path / "model.pt"))

    # tail missing
    lonely = tmp_path / "lonely.onnx"
    shutil.copy(TINY, lonely)
    with pytest.raises(FileNotFoundError, match=r"lonely.tail.onnx: the model's tail graph does not exist"):
        Segmenter(str(lonely))

    # truncated frame graph
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(open(TINY, "rb").read()[:5000])
    shutil.copy(TINY.replace(".onnx", ".tail.onnx"), tmp_path / "truncated.tail.onnx")
    with pytest.raises(ModelError, match=r"truncated.onnx: ONNX Runtime cannot load it"):
        Segmenter(str(truncated))

    # a tail that is not this model's
    mixed = tmp_path / "mixed.onnx"
    shutil.copy(TINY, mixed)
    (tmp_path / "mixed.tail.onnx").write_bytes(open(TINY.replace(".onnx", ".tail.onnx"), "rb").read() + b"\0")
    with pytest.raises(ModelError, match=r"mixed.tail.onnx: does not belong to .*mixed.onnx"):
        Segmenter(str(mixed))


def test_foreign_onnx_without_metadata_is_refused(tmp_path):
    pytest.importorskip("onnx", reason="building a foreign graph needs onnx")
    from fassst_rt.onnx_rff import rff_model
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(rff_model(4, 8))
    shutil.copy(foreign, tmp_path / "foreign.tail.onnx")
    with pytest.raises(MetadataError, match=r"foreign.onnx: has no 'fassst' metadata"):
        Segmenter(str(foreign))


def test_metadata_inconsistent_with_the_graph_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx", reason="editing metadata needs onnx")
    proto = onnx.load(TINY)
    doc = json.loads(proto.metadata_props[0].value)
    doc["class_names"] = ["only-one"]
    proto.metadata_props[0].value = json.dumps(doc)
    onnx.save(proto, str(tmp_path / "edited.onnx"))
    shutil.copy(TINY.replace(".onnx", ".tail.onnx"), tmp_path / "edited.tail.onnx")
    with pytest.raises(ModelError, match=r"'scores' has shape \(1, 36, 2\), but the metadata says \(1, 36, 1\)"):
        with Segmenter(str(tmp_path / "edited.onnx")) as s:
            s.run(np.zeros((50, 50, 3), np.uint8))
    doc["version"] = 99
    proto.metadata_props[0].value = json.dumps(doc)
    onnx.save(proto, str(tmp_path / "edited.onnx"))
    with pytest.raises(MetadataError, match=r"metadata format version 99 is not supported"):
        Segmenter(str(tmp_path / "edited.onnx"))


def test_closed_segmenter_refuses_to_run(frame):
    s = Segmenter(TINY, device="cpu")
    s.close()
    s.close()  # idempotent
    with pytest.raises(RuntimeError, match=r"closed"):
        s.run(frame)


@pytest.mark.parametrize("spinning,expected", [(False, "0"), (True, "1")])
def test_onnxruntime_spinning_option_reaches_both_sessions(spinning, expected):
    from fassst_rt.backends.onnxruntime_backend import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(TINY, device="cpu", num_threads=1, spinning=spinning)
    try:
        for session in (backend.frame_session, backend.tail_session):
            options = session.get_session_options()
            assert options.get_session_config_entry("session.intra_op.allow_spinning") == expected
    finally:
        backend.close()


def test_model_channel_order_is_honoured(tmp_path):
    # Same weights, metadata saying "bgr": fed the channel-reversed frame
    # declared as RGB, the network must see the same tensor as the "rgb" model
    # fed the original frame, so the results are identical.
    onnx = pytest.importorskip("onnx", reason="editing metadata needs onnx")
    proto = onnx.load(TINY)
    doc = json.loads(proto.metadata_props[0].value)
    assert doc["input_mapping"]["channel_order"] == "rgb"
    doc["input_mapping"]["channel_order"] = "bgr"
    proto.metadata_props[0].value = json.dumps(doc)
    onnx.save(proto, str(tmp_path / "bgr.onnx"))
    shutil.copy(TINY.replace(".onnx", ".tail.onnx"), tmp_path / "bgr.tail.onnx")
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (90, 120, 3)).astype(np.uint8)
    frame[:, :, 0] //= 3  # channels must differ for the test to mean anything
    with Segmenter(TINY, device="cpu", channel_order="rgb", score_threshold=0.0) as a, \
            Segmenter(str(tmp_path / "bgr.onnx"), device="cpu", channel_order="rgb",
                      score_threshold=0.0) as b:
        ra = a.run(frame)
        rb = b.run(np.ascontiguousarray(frame[:, :, ::-1]))
        rc = a.run(np.ascontiguousarray(frame[:, :, ::-1]))
    assert len(ra.scores) > 0
    np.testing.assert_array_equal(ra.scores, rb.scores)
    np.testing.assert_array_equal(ra.boxes, rb.boxes)
    np.testing.assert_array_equal(ra.box_masks, rb.box_masks)
    # and the order matters at all for this model (else the test proves nothing)
    assert not (np.array_equal(ra.boxes, rc.boxes) and np.array_equal(ra.box_masks, rc.box_masks))


def test_parity_leaves_out_mask_pixels_at_the_threshold_but_not_real_differences():
    # One small instance (a 4 x 4 box mask pasted 1:1): pixels whose
    # probability sits within 1e-3 of 0.5 may flip between implementations;
    # a pixel that differs by more breaks parity.
    from fassst_rt.parity import parity_problems
    from fassst_rt.results import Instances

    def one(box_mask):
        return Instances(boxes=[[10, 10, 14, 14]], scores=[0.9], labels=[0], image_size=(32, 32), names=["a"],
                         box_masks=np.asarray(box_mask, np.float32)[None], mask_boxes=[[10, 10, 14, 14]])

    base = np.full((4, 4), 0.9, np.float32)
    base[0, :2] = 0.5003          # two pixels just above the threshold
    near = base.copy()
    near[0, :2] = 0.4998          # ... just below it in the other implementation
    far = base.copy()
    far[0, :2] = 0.3
    assert one(base).masks.sum() - one(near).masks.sum() == 2   # 2 of 16 pixels: plain IoU 0.875
    assert parity_problems(one(base), one(near), 0.3) == []
    problems = parity_problems(one(base), one(far), 0.3)
    assert len(problems) == 1 and "mask IoU 0.8750" in problems[0]
