"""The one pipeline (the C++ core's fassst::Segmenter, bound to Python): work
split to fit the backend's and the caller's batch limits gives the same
instances; its stages, called one by one through the public methods, compose
to what run() returns; the one metadata validator refuses what it must."""

import json
import os

import numpy as np
import pytest

from fassst_rt import Segmenter, processing
from fassst_rt.backends.onnxruntime_backend import OnnxRuntimeBackend
from fassst_rt.metadata import MetadataError, ModelMetadata

from reference import stored_results as stored
from test_stored_results import assert_same_instances

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny", "tiny.onnx")
SHIPPED = str(stored.MODEL)


class LimitedBackend(OnnxRuntimeBackend):
    """The real ONNX Runtime backend declaring batch limits, as a TensorRT
    engine's profile does, and recording the batches it is given."""

    def __init__(self, path, max_frame_batch, max_tail_batch):
        super().__init__(path, device="cpu")
        self.max_frame_batch = max_frame_batch
        self.max_tail_batch = max_tail_batch
        self.frame_batches, self.tail_batches = [], []

    def run_frame(self, images):
        assert images.shape[0] <= self.max_frame_batch, "a frame call over the backend's limit"
        self.frame_batches.append(images.shape[0])
        return super().run_frame(images)

    def run_tail(self, rois):
        assert rois.shape[0] <= self.max_tail_batch, "a tail call over the backend's limit"
        self.tail_batches.append(rois.shape[0])
        return super().run_tail(rois)


@pytest.mark.skipif(not (stored.data_dir() / "hela_t15.png").is_file(), reason="real data not fetched")
def test_backend_limits_split_a_tiled_frame_without_changing_its_instances():
    backend = LimitedBackend(SHIPPED, max_frame_batch=3, max_tail_batch=5)
    got = stored.compute("hela_t15_tiled", lambda **kw: Segmenter(backend, **kw))[0]
    assert_same_instances(got, stored.load_stored()["hela_t15_tiled"][0], "limited backend")
    assert max(backend.frame_batches) == 3 and max(backend.tail_batches) == 5
    assert sum(backend.tail_batches) >= len(got["labels"])


def test_max_batch_bounds_each_frame_call_and_keeps_results(rng):
    frame = rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)
    with Segmenter(TINY, device="cpu", tile=(64, 16), max_batch=64) as one_call:
        want = one_call.run(frame)
    backend = LimitedBackend(TINY, max_frame_batch=1000, max_tail_batch=1000)
    with Segmenter(backend, tile=(64, 16), max_batch=4) as chunked:
        got = chunked.run(frame)
        assert chunked.max_batch == 4
    assert want.timings["tiles"] == got.timings["tiles"] == sum(backend.frame_batches) > 4
    assert max(backend.frame_batches) == 4
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_allclose(got.boxes, want.boxes, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(got.masks, want.masks)


@pytest.mark.parametrize("value", [0, -1, 5000])
def test_max_batch_out_of_range_is_refused_naming_it(value):
    with pytest.raises(ValueError, match=r"max_batch must be in \[1, 4096\], got {}".format(value)):
        Segmenter(TINY, device="cpu", max_batch=value)


def test_stages_called_one_by_one_compose_to_run(rng):
    frames = [rng.integers(0, 256, (150, 110, 3), dtype=np.uint8),
              rng.integers(0, 256, (90, 200, 3), dtype=np.uint8)]
    with Segmenter(TINY, device="cpu", tile=False, score_threshold=0.0) as seg:
        want = seg.run_batch(frames)
        batch, geometry = seg.preprocess(frames)
        m = seg.metadata
        # the preprocessing is the documented letterbox + normalisation
        for b, f in enumerate(frames):
            lb = processing.letterbox(f, m.input_size)
            swap = seg.channel_order != m.channel_order
            np.testing.assert_array_equal(batch[b:b + 1], processing.to_network_input(lb.image, m.mean, m.std, swap))
            assert tuple(geometry[b])[1:] == tuple(lb)[1:]
        out = seg.backend.run_frame(batch)
        selections, rois = seg.select(out.boxes, out.scores)
        assert len(selections) == 2 and rois.shape == (sum(len(s.cells) for s in selections), 5)
        assert sum(len(w) for w in want) == len(rois) > 0
        for b, s in enumerate(selections):
            ref = processing.select(out.boxes[b], out.scores[b], seg.score_threshold, seg.nms_threshold,
                                    seg.max_instances)
            for field in ("cells", "labels", "scores"):
                np.testing.assert_array_equal(getattr(s, field), getattr(ref, field))
        masks = processing.sigmoid(seg.backend.fuse_and_tail(out, rois)[:, 0])
        start = 0
        for b, inst in enumerate(want):
            k = len(inst)
            np.testing.assert_array_equal(inst.labels, selections[b].labels)
            np.testing.assert_allclose(inst.box_masks, masks[start:start + k], atol=1e-6)
            frame_boxes = processing.boxes_to_frame(rois[start:start + k, 1:], geometry[b], *frames[b].shape[:2])
            np.testing.assert_array_equal(inst.boxes, frame_boxes)
            start += k


def _tiny_metadata_doc():
    import onnx
    model = onnx.load(TINY, load_external_data=False)
    return json.loads({p.key: p.value for p in model.metadata_props}["fassst"])


@pytest.mark.parametrize("key,value,message", [
    ("score_threshold", float("nan"), "not a JSON document"),
    ("nms_threshold", float("inf"), "not a JSON document"),
    ("tail_sha256", 5, "tail_sha256 must be a string or null"),
    ("input_size", 2 ** 40, "input_size must be an integer"),
])
def test_one_validator_refuses_bad_metadata(key, value, message):
    doc = _tiny_metadata_doc()
    doc[key] = value
    with pytest.raises(MetadataError, match=message):
        ModelMetadata(doc, "tiny")


@pytest.mark.parametrize("text", ['{"version": NaN}', '{"version": 1, "input_size": Infinity}'])
def test_metadata_text_with_non_json_numbers_is_refused(text):
    with pytest.raises(MetadataError):
        ModelMetadata.from_json(text, "hostile")


def test_an_unknown_16_bit_rule_is_refused_at_load():
    doc = _tiny_metadata_doc()
    doc["input_mapping"]["uint16"] = {"kind": "gamma"}
    with pytest.raises(MetadataError, match="unknown 16-bit mapping rule"):
        ModelMetadata(doc, "tiny")


class FailingTail(OnnxRuntimeBackend):
    """The real backend whose tail raises, as a broken GPU or a closed session would."""

    def run_tail(self, rois):
        raise KeyError("the tail exploded")


def test_a_python_backends_exception_reaches_the_caller_unchanged(rng):
    frame = rng.integers(0, 256, (100, 140, 3), dtype=np.uint8)
    with Segmenter(FailingTail(TINY, device="cpu"), score_threshold=0.0) as seg:
        with pytest.raises(KeyError, match="the tail exploded"):
            seg.run(frame)
        # and the Segmenter stays usable for frames without instances
        seg.score_threshold = 1.0
        assert len(seg.run(frame)) == 0


def test_threads_share_one_segmenter_with_sequential_results(rng):
    import threading
    frames = [rng.integers(0, 256, (90, 120, 3), dtype=np.uint8) for _ in range(6)]
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        want = [seg.run(f) for f in frames]
        got = [None] * len(frames)

        def work(i):
            got[i] = seg.run(frames[i])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(frames))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for w, g in zip(want, got):
        np.testing.assert_array_equal(w.boxes, g.boxes)
        np.testing.assert_array_equal(w.box_masks, g.box_masks)
