"""benchmarks/fps_bench/segmenter_steps.py, the benchmarks' only pre/post-processing,
computes what the Segmenter computes: the stage-by-stage instances equal
Segmenter.run's (and run_batch's) on the same frames, for frames in either channel
order and models trained in either order; the network input follows the channel
rule checked against a NumPy normalisation written here."""

import os
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the tiny model runs with ONNX Runtime")
onnx = pytest.importorskip("onnx", reason="the 'bgr' copy of the tiny model is written with onnx")

from fassst_rt import Segmenter, processing  # noqa: E402
from fassst_rt.metadata import METADATA_KEY, ModelMetadata  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "data", "tiny", "tiny.onnx")

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))
try:
    from fps_bench import frames as bench_frames  # noqa: E402
    from fps_bench import segmenter_steps  # noqa: E402
finally:
    sys.path.pop(0)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The tiny model as shipped (trained on RGB) and a copy whose metadata says it was
    trained on BGR (same graphs): the two channel rules differ only for the latter."""
    tmp = tmp_path_factory.mktemp("steps")
    proto = onnx.load(TINY)
    (entry,) = [p for p in proto.metadata_props if p.key == METADATA_KEY]
    doc = ModelMetadata.from_json(entry.value).to_dict()
    assert doc["input_mapping"]["channel_order"] == "rgb"
    doc["input_mapping"]["channel_order"] = "bgr"
    entry.value = ModelMetadata(doc).to_json()
    bgr = str(tmp / "tiny_bgr.onnx")
    onnx.save(proto, bgr)
    shutil.copyfile(TINY[:-5] + ".tail.onnx", bgr[:-5] + ".tail.onnx")
    return {"rgb": TINY, "bgr": bgr}


def colour_frames():
    """Colour frames whose red and blue differ (so a wrong swap changes the input), of
    two sizes, and a 16-bit grey frame (the model's 16-bit mapping)."""
    a, b = bench_frames.synthetic_frames(2, 6, seed=3)
    wide = np.ascontiguousarray(b[40:300, :])
    grey16 = (np.random.default_rng(1).random((200, 300)) * 4000 + 100).astype(np.uint16)
    return [a, wide, grey16]


def real_frame():
    try:
        return bench_frames.real_frames()[0]
    except RuntimeError:
        pytest.skip("the project's real frames are not fetched (`fassst-rt data fetch`)")


def segmenter(path, channel_order):
    # NMS on and a cap below S*S = 36, so that selection is exercised, not bypassed
    return Segmenter(path, score_threshold=0.0, nms_threshold=0.5, max_instances=12, tile=False,
                     channel_order=channel_order, num_threads=1)


def assert_same_instances(got, want):
    assert got.image_size == want.image_size
    assert len(want) > 0
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(got.scores, want.scores)
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_array_equal(got.mask_boxes, want.mask_boxes)
    np.testing.assert_array_equal(got.box_masks, want.box_masks)


@pytest.mark.parametrize("model_order", ["rgb", "bgr"])
@pytest.mark.parametrize("frame_order", ["bgr", "rgb"])
def test_stage_by_stage_equals_segmenter_run(models, model_order, frame_order):
    with segmenter(models[model_order], frame_order) as seg:
        frames = colour_frames()
        for frame in frames:
            (got,) = segmenter_steps.segment(seg, [frame])
            assert_same_instances(got, seg.run(frame))
        # several frames in one batch: the ROIs' frame index column
        for got, want in zip(segmenter_steps.segment(seg, frames), seg.run_batch(frames)):
            assert_same_instances(got, want)


def test_stage_by_stage_equals_segmenter_run_on_a_real_frame(models):
    frame = real_frame()
    with segmenter(models["rgb"], "bgr") as seg:
        (got,) = segmenter_steps.segment(seg, [frame])
        assert_same_instances(got, seg.run(frame))


def numpy_network_input(frame, size, mean, std, swap):
    """Letterbox (fassst_rt's), then the normalisation in NumPy: channels reversed when
    ``swap``, (x / 255 - mean) / std, NCHW."""
    canvas = processing.letterbox(frame, size).image.astype(np.float64)
    if swap:
        canvas = canvas[..., ::-1]
    x = (canvas / 255.0 - np.asarray(mean)) / np.asarray(std)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


@pytest.mark.parametrize("model_order", ["rgb", "bgr"])
@pytest.mark.parametrize("frame_order", ["bgr", "rgb"])
def test_channels_are_swapped_only_when_the_orders_differ(models, model_order, frame_order):
    frame = colour_frames()[0]
    with segmenter(models[model_order], frame_order) as seg:
        m = seg.metadata
        got = segmenter_steps.preprocess(seg, [frame]).batch
        swap = frame_order != model_order
        np.testing.assert_allclose(got, numpy_network_input(frame, m.input_size, m.mean, m.std, swap), atol=2e-5)
        other = numpy_network_input(frame, m.input_size, m.mean, m.std, not swap)
        assert np.abs(got - other).max() > 0.1  # the frame's red and blue differ: the rule is observable


def test_select_keeps_the_segmenters_settings(models):
    """The ROIs are the selected cells' boxes with their frame's index, as many as the
    Segmenter's max_instances allows."""
    frames = colour_frames()[:2]
    with segmenter(models["rgb"], "bgr") as seg:
        seg.max_instances = 5
        pre = segmenter_steps.preprocess(seg, frames)
        outputs = seg.backend.run_frame(pre.batch)
        sel = segmenter_steps.select(seg, outputs, len(frames))
        assert [len(s.cells) for s in sel.selections] == [5, 5]
        assert sel.rois.dtype == np.float32 and sel.rois.shape == (10, 5)
        np.testing.assert_array_equal(sel.rois[:, 0], [0] * 5 + [1] * 5)
        np.testing.assert_array_equal(sel.rois[5:, 1:], outputs.boxes[1][sel.selections[1].cells])
