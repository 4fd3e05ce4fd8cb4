"""The portable export (one standard-op ONNX graph, docs/portable.md): the
graph is valid standard ONNX at opset <= 17; its selection equals
processing.select on adversarial inputs (ties, saturated scores, heavy
overlap); its instances equal the two-graph runtime's (Segmenter) under the
parity rule on real photos, for the tiny test model and a random-weight
model exported here; K = 0 frames give empty outputs; ``--portable`` works
from the export CLI."""

import argparse
import json
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the portable export needs onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch", reason="export needs PyTorch (the training extra)")
skimage_data = pytest.importorskip("skimage.data", reason="real photos come from scikit-image")

from fassst_rt import Segmenter, model_files, processing  # noqa: E402
from fassst_rt.parity import parity_problems  # noqa: E402
from fassst_rt.train.checkpoint import save_checkpoint  # noqa: E402
from fassst_rt.train.config import ModelConfig  # noqa: E402
from fassst_rt.train.export import export_checkpoint  # noqa: E402
from fassst_rt.train.network import FASSST  # noqa: E402
from fassst_rt.train.portable import (PORTABLE_OUTPUTS, PortableError, check_portable_parity,  # noqa: E402
                                      export_portable, run_portable, selection_nodes)

TINY = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "tiny", "tiny.onnx")


def photos():
    """Real photos bundled with scikit-image, as BGR frames."""
    return [np.ascontiguousarray(skimage_data.astronaut()[:, :, ::-1]),
            np.ascontiguousarray(skimage_data.coffee()[:, :, ::-1]),
            np.ascontiguousarray(np.dstack([skimage_data.camera()] * 3))]


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """A random-weight model whose scores spread over (0, 1) and whose boxes
    vary in size and overlap (so the threshold and NMS both have work), with
    mask logits well away from 0 (so masks are not a coin toss at 0.5)."""
    torch.manual_seed(3)
    config = ModelConfig(input_size=160, width_mult=0.35, S=5, num_classes=3, M=16, tail_channels=16,
                         S1=12, iam_channels=32)
    model = FASSST(config)
    # BatchNorm statistics from real photos (at initialisation the activations
    # vanish and every cell would predict the same box and score)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
            module.reset_running_stats()
    frames = photos() + [np.ascontiguousarray(skimage_data.chelsea()[:, :, ::-1])]
    batch = np.concatenate([processing.to_network_input(processing.letterbox(f, 160).image) for f in frames])
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(batch))
        torch.nn.init.normal_(model.iam.predict.weight, std=0.1)
        # boxes about two cells wide (neighbours overlap), scores spread around 0.3
        model.iam.predict.bias.copy_(torch.tensor([0.0, 0.0, 0.7, 0.7, -0.9, -0.9, -0.9]))
        torch.nn.init.normal_(model.tail.predict.weight, std=0.2)
    model.eval()
    tmp = tmp_path_factory.mktemp("portable_random")
    checkpoint = save_checkpoint(tmp / "model.pt", model, config)
    out = str(tmp / "model.onnx")
    export_checkpoint(str(checkpoint), out)
    return out


@pytest.fixture(scope="module")
def models(random_model):
    return {"tiny": TINY, "random": random_model}


@pytest.fixture(scope="module")
def portable(models, tmp_path_factory):
    """portable(model, score, nms, max_instances) -> path, exported once."""
    tmp = tmp_path_factory.mktemp("portable")
    cache = {}

    def get(model, score=0.3, nms=0.5, max_instances=None):
        key = (model, score, nms, max_instances)
        if key not in cache:
            path = str(tmp / "{}_{}_{}_{}.portable.onnx".format(*key))
            cache[key] = export_portable(models[model], path, score, nms, max_instances)
        return cache[key]

    return get


def session(path):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def raw_outputs(path, images):
    return dict(zip(PORTABLE_OUTPUTS, session(path).run(list(PORTABLE_OUTPUTS), {"images": images})))


# ------------------------------------------------------------------ the graph

@pytest.mark.parametrize("model", ["tiny", "random"])
def test_portable_graph_is_standard_onnx_at_opset_17(portable, models, model):
    path = portable(model)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert [(o.domain, o.version) for o in proto.opset_import] in ([("", 16)], [("", 17)])
    ops = {n.op_type for n in proto.graph.node}
    assert {"NonMaxSuppression", "RoiAlign", "Resize", "Add", "Relu", "Sigmoid"} <= ops
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)
    (image,) = proto.graph.input
    size = json.loads({p.key: p.value for p in onnx.load(models[model]).metadata_props}["fassst"])["input_size"]
    assert image.name == "images"
    assert [d.dim_value for d in image.type.tensor_type.shape.dim] == [1, 3, size, size]
    assert [o.name for o in proto.graph.output] == list(PORTABLE_OUTPUTS)
    doc = json.loads({p.key: p.value for p in proto.metadata_props}["fassst"])
    assert doc["portable"] is True and doc["score_threshold"] == 0.3 and doc["nms_threshold"] == 0.5
    assert doc["max_instances"] == doc["grid_size"] ** 2
    assert model_files.portable_onnx_path(models[model]).endswith(".portable.onnx")


# -------------------------------------------------------------- the selection

def selection_model(n, C, score_threshold, nms_threshold, max_instances):
    from onnx import TensorProto, helper

    nodes, inits, outs = selection_nodes("boxes", "scores", n, C, score_threshold, nms_threshold, max_instances)
    names = ["out_boxes", "out_scores", "out_labels", "out_cells"]
    nodes += [helper.make_node("Identity", [o], [name]) for o, name in zip(outs, names)]
    graph = helper.make_graph(
        nodes, "select", [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [n, 4]),
                          helper.make_tensor_value_info("scores", TensorProto.FLOAT, [n, C])],
        [helper.make_tensor_value_info("out_boxes", TensorProto.FLOAT, ["K", 4]),
         helper.make_tensor_value_info("out_scores", TensorProto.FLOAT, ["K"]),
         helper.make_tensor_value_info("out_labels", TensorProto.INT64, ["K"]),
         helper.make_tensor_value_info("out_cells", TensorProto.INT64, ["K"])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def adversarial(rng, n, C):
    """Boxes in a few tight clusters (heavy overlap), scores on a coarse grid
    (many ties, within a cell too), some saturated at exactly 1 and 0."""
    centres = rng.uniform(0, 100, (3, 2))[rng.integers(0, 3, n)] + rng.normal(0, 3, (n, 2))
    sizes = rng.uniform(5, 40, (n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    scores = (rng.integers(0, 9, (n, C)) / 8.0).astype(np.float32)
    boxes[n // 2] = boxes[0]  # identical boxes
    return boxes, scores


@pytest.mark.parametrize("n,C", [(1, 1), (4, 1), (25, 3), (36, 2), (64, 5)])
@pytest.mark.parametrize("score_threshold,nms_threshold,max_instances",
                         [(0.0, 0.5, 100), (0.375, 0.5, 100), (0.3, 0.0, 100), (0.0, 0.3, 3),
                          (0.5, 1.0, 100), (1.0, 0.5, 100), (0.0, 0.5, 0)])
def test_selection_equals_select_on_ties_and_overlaps(n, C, score_threshold, nms_threshold, max_instances):
    sess = selection_model(n, C, score_threshold, nms_threshold, max_instances)
    rng = np.random.default_rng(n * 100 + C)
    for _ in range(20):
        boxes, scores = adversarial(rng, n, C)
        ref = processing.select(boxes, scores, score_threshold, nms_threshold, max_instances)
        got_boxes, got_scores, got_labels, got_cells = sess.run(None, {"boxes": boxes, "scores": scores})
        np.testing.assert_array_equal(got_cells, ref.cells)
        np.testing.assert_array_equal(got_labels, ref.labels)
        np.testing.assert_array_equal(got_scores, ref.scores)
        np.testing.assert_array_equal(got_boxes, boxes[ref.cells].reshape(-1, 4))


# ---------------------------------------------- parity with the two-graph runtime

def check_against_segmenter(frame_path, portable_path, frames, score, nms, max_instances=None):
    sess = session(portable_path)
    counts = []
    with Segmenter(frame_path, device="cpu", score_threshold=score, nms_threshold=nms,
                   max_instances=max_instances, tile=False) as seg:
        for i, frame in enumerate(frames):
            a, b = seg.run(frame), run_portable(sess, frame)
            assert parity_problems(a, b, score) == [], "frame {}".format(i)
            certain = lambda r: int(np.sum(np.abs(r.scores - score) > 1e-4))  # noqa: E731
            assert certain(a) == certain(b)
            counts.append(len(b))
    return counts


@pytest.mark.parametrize("model", ["tiny", "random"])
@pytest.mark.parametrize("score", [0.3, 0.0])
def test_portable_matches_the_two_graph_runtime_on_real_photos(portable, models, model, score):
    counts = check_against_segmenter(models[model], portable(model, score), photos(), score, 0.5)
    if score == 0.0:
        assert min(counts) > 0


def test_nms_at_work_on_real_photos(portable, models):
    """A low IoU threshold on the random model: NMS suppresses many cells, and
    the two pipelines still agree."""
    counts = check_against_segmenter(models["random"], portable("random", 0.0, 0.1), photos(), 0.0, 0.1)
    assert 0 < max(counts) < 25


def test_random_model_keeps_some_instances_at_0_3(portable, models):
    counts = check_against_segmenter(models["random"], portable("random", 0.3), photos(), 0.3, 0.5)
    assert max(counts) > 0


def test_max_instances_cut(portable, models):
    counts = check_against_segmenter(models["random"], portable("random", 0.0, 0.5, 3), photos(), 0.0, 0.5, 3)
    assert counts == [3, 3, 3]


def test_frame_of_the_input_size_boxes_in_network_pixels(portable, models):
    """A frame already of the input size: the letterbox is the identity, so
    the graph's raw boxes equal the Segmenter's (unclipped) mask boxes."""
    frame = np.ascontiguousarray(skimage_data.astronaut()[::4, ::4, ::-1])
    images = processing.to_network_input(frame)
    out = raw_outputs(portable("tiny", 0.0), images)
    with Segmenter(TINY, device="cpu", score_threshold=0.0, tile=False) as seg:
        ref = seg.run(frame)
    np.testing.assert_allclose(out["boxes"], ref.mask_boxes, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(out["labels"], ref.labels)
    np.testing.assert_allclose(out["scores"], ref.scores, atol=1e-5)
    np.testing.assert_allclose(out["box_masks"], ref.box_masks, atol=1e-4)


@pytest.mark.parametrize("model", ["tiny", "random"])
@pytest.mark.parametrize("score,max_instances", [(1.0, None), (0.0, 0)])
def test_k0_frames_give_empty_outputs(portable, models, model, score, max_instances):
    path = portable(model, score, 0.5, max_instances)
    sess = session(path)
    size = sess.get_inputs()[0].shape[2]
    s1 = json.loads(sess.get_modelmeta().custom_metadata_map["fassst"])["roi_size"]
    for frame in photos():
        lb = processing.letterbox(frame, size)
        out = dict(zip(PORTABLE_OUTPUTS, sess.run(list(PORTABLE_OUTPUTS),
                                                  {"images": processing.to_network_input(lb.image)})))
        assert out["boxes"].shape == (0, 4) and out["boxes"].dtype == np.float32
        assert out["scores"].shape == (0,) and out["labels"].shape == (0,) and out["labels"].dtype == np.int64
        assert out["box_masks"].shape == (0, 2 * s1, 2 * s1) and out["box_masks"].dtype == np.float32
        assert len(run_portable(sess, frame)) == 0


def test_a_broken_portable_graph_is_caught(portable, models, tmp_path):
    """Perturbing the tail's weights inside the portable graph breaks parity."""
    proto = onnx.load(portable("random", 0.0))
    weight = max((t for t in proto.graph.initializer if t.name.startswith("tail/")), key=lambda t: len(t.raw_data))
    values = onnx.numpy_helper.to_array(weight) * 3.0 + 0.5
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    broken = str(tmp_path / "broken.portable.onnx")
    onnx.save(proto, broken)
    problems = check_portable_parity(models["random"], broken, photos()[:1])
    assert any("mask IoU" in p for p in problems)


# --------------------------------------------------------------------- errors

def test_mismatched_tail_is_refused(tmp_path):
    import shutil

    shutil.copy(TINY, tmp_path / "m.onnx")
    tail = onnx.load(TINY.replace(".onnx", ".tail.onnx"))
    tail.doc_string = "changed"
    onnx.save(tail, str(tmp_path / "m.tail.onnx"))
    with pytest.raises(PortableError, match="sha256"):
        export_portable(str(tmp_path / "m.onnx"))


def test_missing_metadata_and_bad_arguments_are_refused(tmp_path):
    import shutil

    frame = onnx.load(TINY)
    del frame.metadata_props[:]
    onnx.save(frame, str(tmp_path / "bare.onnx"))
    shutil.copy(TINY.replace(".onnx", ".tail.onnx"), tmp_path / "bare.tail.onnx")
    with pytest.raises(PortableError, match="no 'fassst' metadata"):
        export_portable(str(tmp_path / "bare.onnx"))
    with pytest.raises(PortableError, match="does not exist"):
        export_portable(str(tmp_path / "nothing.onnx"))
    with pytest.raises(PortableError, match="score_threshold"):
        export_portable(TINY, str(tmp_path / "x.onnx"), score_threshold=1.5)
    with pytest.raises(PortableError, match="max_instances"):
        export_portable(TINY, str(tmp_path / "x.onnx"), max_instances=-1)


# ------------------------------------------------------------------------ CLI

def test_export_cli_portable_flag(tmp_path):
    from fassst_rt.cli import export
    from fassst_rt.opencv_io import write_image

    torch.manual_seed(5)
    config = ModelConfig(input_size=128, width_mult=0.35, S=4, num_classes=2, M=8, tail_channels=8,
                         S1=8, iam_channels=16)
    checkpoint = save_checkpoint(tmp_path / "c.pt", FASSST(config), config)
    image = str(tmp_path / "photo.png")
    write_image(image, photos()[1])
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    out = str(tmp_path / "cli.onnx")
    args = parser.parse_args([str(checkpoint), "-o", out, "--check-images", image, "--portable",
                              "--score-threshold", "0.0", "--max-instances", "10"])
    assert export.run(args) == 0
    path = str(tmp_path / "cli.portable.onnx")
    doc = json.loads({p.key: p.value for p in onnx.load(path).metadata_props}["fassst"])
    assert doc["portable"] is True and doc["score_threshold"] == 0.0 and doc["max_instances"] == 10
    assert len(run_portable(session(path), photos()[0])) <= 10
    assert not parser.parse_args([str(checkpoint), "-o", out]).portable


def test_an_opset_13_export_is_converted(tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(input_size=128, width_mult=0.35, S=4, num_classes=2, M=8, tail_channels=8,
                         S1=8, iam_channels=16)
    checkpoint = save_checkpoint(tmp_path / "o13.pt", FASSST(config), config)
    export_checkpoint(str(checkpoint), str(tmp_path / "o13.onnx"), opset=13)
    path = export_portable(str(tmp_path / "o13.onnx"), None, 0.0, check_frames=photos()[:2])
    assert path == str(tmp_path / "o13.portable.onnx")
    assert [(o.domain, o.version) for o in onnx.load(path).opset_import] == [("", 17)]
