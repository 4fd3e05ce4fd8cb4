"""Export: the exported graphs (ONNX Runtime + the RFF kernel) against the
PyTorch model on real photos, under the parity rule; a broken export is
caught."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export needs PyTorch (the training extra)")
onnx = pytest.importorskip("onnx", reason="export needs onnx")
skimage_data = pytest.importorskip("skimage.data", reason="real photos come from scikit-image")

from fassst_rt import Segmenter  # noqa: E402
from fassst_rt.train.checkpoint import save_checkpoint  # noqa: E402
from fassst_rt.train.config import ModelConfig  # noqa: E402
from fassst_rt.train.export import ExportError, check_parity, export_checkpoint  # noqa: E402
from fassst_rt.train.network import FASSST  # noqa: E402


def photos():
    """Real photos bundled with scikit-image, as BGR frames."""
    return [np.ascontiguousarray(skimage_data.astronaut()[:, :, ::-1]),
            np.ascontiguousarray(skimage_data.coffee()[:, :, ::-1]),
            np.ascontiguousarray(np.dstack([skimage_data.camera()] * 3))]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(1)
    config = ModelConfig(input_size=160, width_mult=0.35, S=5, num_classes=3, M=16, tail_channels=16,
                         S1=12, iam_channels=32)
    model = FASSST(config)
    tmp = tmp_path_factory.mktemp("export")
    checkpoint = save_checkpoint(tmp / "model.pt", model, config)
    out = str(tmp / "model.onnx")
    metadata = export_checkpoint(str(checkpoint), out, check_frames=photos()[:1], score_threshold=0.3)
    return model, out, metadata


def test_export_writes_both_graphs_and_metadata(exported):
    _, out, metadata = exported
    proto = onnx.load(out)
    assert proto.opset_import[0].version <= 17
    doc = json.loads({p.key: p.value for p in proto.metadata_props}["fassst"])
    assert doc["grid_size"] == 5 and doc["roi_size"] == 12 and len(doc["class_names"]) == 3
    assert doc["tail_sha256"] == metadata.tail_sha256
    tail = onnx.load(out.replace(".onnx", ".tail.onnx"))
    assert tail.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "K"


@pytest.mark.parametrize("threshold", [0.3, 0.0])
def test_exported_model_matches_pytorch_on_real_photos(exported, threshold):
    model, out, _ = exported
    assert check_parity(model, out, photos(), score_threshold=threshold) == []


def test_tiled_parity(exported):
    model, out, _ = exported
    assert check_parity(model, out, photos()[:1], score_threshold=0.0, tile=(256, 64)) == []


def test_a_broken_export_is_caught(exported, tmp_path):
    """Perturbing the exported tail's weights must break parity."""
    model, out, _ = exported
    tail = onnx.load(out.replace(".onnx", ".tail.onnx"))
    weight = max(tail.graph.initializer, key=lambda t: len(t.raw_data))
    values = onnx.numpy_helper.to_array(weight) * 3.0 + 0.5
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    broken = tmp_path / "broken.onnx"
    frame = onnx.load(out)
    doc = json.loads(frame.metadata_props[0].value)
    doc["tail_sha256"] = None  # let it load: the parity check is what must fail
    frame.metadata_props[0].value = json.dumps(doc)
    onnx.save(frame, str(broken))
    onnx.save(tail, str(tmp_path / "broken.tail.onnx"))
    problems = check_parity(model, str(broken), photos()[:1], score_threshold=0.0)
    assert any("mask IoU" in p for p in problems)


def test_export_refuses_opset_above_17(exported, tmp_path):
    model, _, _ = exported
    checkpoint = save_checkpoint(tmp_path / "m.pt", model, model.config)
    with pytest.raises(ExportError, match=r"opset 18 is above 17"):
        export_checkpoint(str(checkpoint), str(tmp_path / "m.onnx"), opset=18)


def test_exported_model_runs_in_a_segmenter(exported):
    _, out, _ = exported
    with Segmenter(out, device="cpu", score_threshold=0.0) as s:
        result = s.run(photos()[1])
    assert len(result) == 25 and result.masks.shape[1:] == photos()[1].shape[:2]


def test_a_model_without_rff_exports_and_matches(tmp_path):
    """The Table 9 ablation model (tail fed with R1 only): the metadata says
    so and the runtime crops p1 instead of fusing."""
    torch.manual_seed(2)
    config = ModelConfig(input_size=128, width_mult=0.35, S=4, num_classes=2, M=8, tail_channels=8,
                         S1=8, iam_channels=16, use_rff=False)
    checkpoint = save_checkpoint(tmp_path / "norff.pt", FASSST(config), config)
    metadata = export_checkpoint(str(checkpoint), str(tmp_path / "norff.onnx"), check_frames=photos()[:2])
    assert metadata.rff is False


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_failed_export_leaves_no_model_files(exported, tmp_path):
    """The parity check runs after both graphs are written: a check frame the
    runtime refuses fails the export there, and nothing of it remains."""
    model, out, _ = exported
    checkpoint = save_checkpoint(tmp_path / "m.pt", model, model.config)
    refused = np.zeros((40, 50), np.uint16)  # 16-bit, and this model has no 16-bit rule
    with pytest.raises(ValueError, match="16-bit"):
        export_checkpoint(str(checkpoint), str(tmp_path / "m.onnx"), check_frames=[refused])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    # an earlier export at the same path stays as it was
    export_checkpoint(str(checkpoint), str(tmp_path / "m.onnx"), check_frames=photos()[:1])
    before = _files(tmp_path)
    with pytest.raises(ValueError, match="16-bit"):  # (another threshold: other bytes, were they written)
        export_checkpoint(str(checkpoint), str(tmp_path / "m.onnx"), check_frames=[refused], score_threshold=0.25)
    assert _files(tmp_path) == before


def test_the_cli_export_writes_all_files_or_none(exported, tmp_path):
    import argparse

    from fassst_rt.cli import export
    from fassst_rt.opencv_io import write_image

    model, _, _ = exported
    checkpoint = save_checkpoint(tmp_path / "m.pt", model, model.config)
    write_image(str(tmp_path / "photo.png"), photos()[0][:200, :200])
    write_image(str(tmp_path / "grey16.png"), np.full((40, 50), 3000, np.uint16))
    out = tmp_path / "models"
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)

    def args(image, threshold):
        return parser.parse_args([str(checkpoint), "-o", str(out / "m.onnx"), "--portable",
                                  "--check-images", str(tmp_path / image), "--score-threshold", threshold])

    assert export.run(args("photo.png", "0.3")) == 0
    assert sorted(p.name for p in out.iterdir()) == ["m.onnx", "m.portable.onnx", "m.tail.onnx"]
    before = _files(out)
    with pytest.raises(ValueError, match="16-bit"):  # the parity check refuses the frame
        export.run(args("grey16.png", "0.25"))
    assert _files(out) == before and sorted(p.name for p in out.iterdir()) == sorted(before)


def test_a_stride_grid_export_runs_whole_frames_and_matches_pytorch(tmp_path):
    """--grid stride: dynamic H and W, grid and input_scale in the metadata;
    parity on whole photos of several shapes (checked inside the export and
    again here at threshold 0, where every cell is an instance)."""
    torch.manual_seed(3)
    config = ModelConfig(input_size=192, width_mult=0.35, S=8, num_classes=2, M=8, tail_channels=8,
                         S1=8, iam_channels=16)
    model = FASSST(config)
    checkpoint = save_checkpoint(tmp_path / "sg.pt", model, config)
    out = str(tmp_path / "sg.onnx")
    frames = [f[:150, :230] for f in photos()]
    metadata = export_checkpoint(str(checkpoint), out, check_frames=frames, grid="stride", input_scale=1.25)
    assert metadata.grid == {"kind": "stride", "cell": 24, "period": 96}
    assert metadata.input_scale == 1.25 and metadata.tile is None and metadata.max_instances == 2000
    from fassst_rt.train.export import StrideGridModel

    frame_input = onnx.load(out).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in frame_input[2:]] == ["H", "W"]
    with Segmenter(out, device="cpu", score_threshold=0.0) as seg:
        inst = seg.run(frames[0])
        assert len(inst) == (192 // 24) * (288 // 24)   # 150 x 230 at 1.25: 188 x 288 -> 192 x 288, every cell
    assert check_parity(model, out, frames[1:], score_threshold=0.0) == []
    with pytest.raises(ExportError, match="input_scale applies to the stride grid only"):
        export_checkpoint(str(checkpoint), str(tmp_path / "sq.onnx"), check_frames=frames[:1], input_scale=1.5)
    assert StrideGridModel(model).frame.period == 96
