"""The model-file names and graph tensor names (fassst_rt/model_files.py)
against their documented spelling (docs/model_files.md), and the files that
are really on disk: the shipped model and the tiny test model."""

import os

import pytest

from fassst_rt import model_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_paths_beside_a_model():
    assert model_files.tail_onnx_path("m/a.onnx") == "m/a.tail.onnx"
    assert model_files.portable_onnx_path("m/a.onnx") == "m/a.portable.onnx"
    assert model_files.is_portable_onnx("m/a.portable.onnx") and not model_files.is_portable_onnx("m/a.onnx")
    assert model_files.plan_paths("m/a.plan") == ("m/a.plan", "m/a.tail.plan", "m/a.plan.json")
    with pytest.raises(ValueError, match="must end in .plan, got 'a.onnx'"):
        model_files.plan_paths("a.onnx")


def test_the_shipped_and_test_models_follow_the_names():
    for frame in ("engines/fassst_default.onnx", "tests/data/tiny/tiny.onnx"):
        assert os.path.isfile(os.path.join(ROOT, model_files.tail_onnx_path(frame))), frame


def test_graph_tensor_names_are_the_documented_ones():
    assert model_files.METADATA_KEY == "fassst"
    assert model_files.FRAME_INPUT == "images"
    assert model_files.FRAME_OUTPUTS == ("boxes", "scores", "p1", "p2", "p3")
    assert model_files.PYRAMID_OUTPUTS == model_files.FRAME_OUTPUTS[2:]
    assert (model_files.TAIL_INPUT, model_files.TAIL_OUTPUT) == ("rois", "masks")
    doc = open(os.path.join(ROOT, "docs", "model_files.md"), encoding="utf-8").read()
    for name in (model_files.FRAME_INPUT, model_files.TAIL_INPUT, model_files.TAIL_OUTPUT) + model_files.FRAME_OUTPUTS:
        assert "`{}`".format(name) in doc, name


def test_the_shipped_graphs_use_these_names():
    ort = pytest.importorskip("onnxruntime")
    frame = os.path.join(ROOT, "engines", "fassst_default.onnx")
    options = ort.SessionOptions()
    session = ort.InferenceSession(frame, options, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [model_files.FRAME_INPUT]
    assert [o.name for o in session.get_outputs()] == list(model_files.FRAME_OUTPUTS)
    assert model_files.METADATA_KEY in session.get_modelmeta().custom_metadata_map
    tail = ort.InferenceSession(model_files.tail_onnx_path(frame), options, providers=["CPUExecutionProvider"])
    assert [i.name for i in tail.get_inputs()] == [model_files.TAIL_INPUT]
    assert [o.name for o in tail.get_outputs()] == [model_files.TAIL_OUTPUT]
