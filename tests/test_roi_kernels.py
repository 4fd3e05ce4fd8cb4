"""The CPU ROI kernels against float64 references written from the definition
(tests/reference/roi_reference.py), and roi_fuse against the unfused
composition."""

import numpy as np
import pytest

from fassst_rt import ops
from reference import roi_reference as ref

from conftest import fuse_tolerance, make_pyramid, make_rois


def _max_err(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max(initial=0.0))


@pytest.mark.parametrize("seed", range(6))
def test_roi_crop_matches_float64_reference(seed):
    rng = np.random.default_rng(seed)
    batch, channels = int(rng.integers(1, 4)), int(rng.integers(1, 6))
    h, w = int(rng.integers(1, 24)), int(rng.integers(1, 24))
    stride = float(rng.choice([4, 8, 16]))
    s = int(rng.integers(1, 10))
    feature = rng.standard_normal((batch, channels, h, w)).astype(np.float32)
    rois = make_rois(rng, 12, batch, h * stride, w * stride)
    got = ops.roi_crop(feature, rois, s, stride)
    want = ref.roi_align(feature, rois, s, stride)
    assert got.shape == (12, channels, s, s) and got.dtype == np.float32
    assert _max_err(got, want) <= 1e-5 * max(1.0, np.abs(want).max())


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("out_size", [4, 8, 12])
def test_roi_fuse_matches_float64_reference(seed, out_size):
    rng = np.random.default_rng(seed)
    batch, channels = int(rng.integers(1, 3)), int(rng.integers(1, 5))
    h1, w1 = int(rng.integers(1, 20)), int(rng.integers(1, 20))
    p1, p2, p3 = make_pyramid(rng, batch, channels, h1, w1)
    rois = make_rois(rng, 10, batch, h1 * 8, w1 * 8)
    got = ops.roi_fuse(p1, p2, p3, rois, out_size)
    want = ref.roi_fuse(p1, p2, p3, rois, out_size)
    assert got.shape == (10, channels, out_size, out_size)
    assert (got >= 0).all()
    assert _max_err(got, want) <= 2e-5 * max(1.0, np.abs(want).max())


@pytest.mark.parametrize("seed", range(4))
def test_roi_fuse_equals_unfused_composition(seed):
    """Fused == roi_crop x3 + independent upsample + add + relu, to float32
    rounding (DESIGN section 2), at the default S = 28."""
    rng = np.random.default_rng(100 + seed)
    p1, p2, p3 = make_pyramid(rng, 2, 6, 13, 17)
    rois = make_rois(rng, 9, 2, 13 * 8, 17 * 8)
    fused = ops.roi_fuse(p1, p2, p3, rois, 28)
    r1 = ops.roi_crop(p1, rois, 28, 8)
    r2 = ops.roi_crop(p2, rois, 14, 16)
    r3 = ops.roi_crop(p3, rois, 7, 32)
    unfused = np.maximum(r1 + ref.upsample2(r2 + ref.upsample2(r3)), 0.0)
    assert _max_err(fused, unfused) <= fuse_tolerance(unfused)


def test_upsample_reference_matches_pytorch():
    """The independent upsample reference is itself checked against PyTorch."""
    torch = pytest.importorskip("torch", reason="PyTorch (the training extra) is not installed")
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7))
    want = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=2, mode="bilinear",
                                           align_corners=False).numpy()
    assert _max_err(ref.upsample2(x), want) < 1e-12


def test_fuse_is_linear_before_relu_and_channel_independent():
    """Properties a broken index computation violates: each channel depends on
    its own planes only, and batch rows read their own image."""
    rng = np.random.default_rng(7)
    p1, p2, p3 = make_pyramid(rng, 2, 4, 10, 10)
    rois = make_rois(rng, 6, 2, 80, 80, edge_cases=False)
    base = ops.roi_fuse(p1, p2, p3, rois, 8)
    q1, q2, q3 = (p.copy() for p in (p1, p2, p3))
    for p in (q1, q2, q3):
        p[:, 2] += 100.0  # touch channel 2 only
    moved = ops.roi_fuse(q1, q2, q3, rois, 8)
    untouched = [0, 1, 3]
    np.testing.assert_array_equal(base[:, untouched], moved[:, untouched])
    assert not np.array_equal(base[:, 2], moved[:, 2])
    q1, q2, q3 = (p.copy() for p in (p1, p2, p3))
    for p in (q1, q2, q3):
        p[1] = 0.0  # erase image 1
    erased = ops.roi_fuse(q1, q2, q3, rois, 8)
    from_image0 = rois[:, 0] == 0
    np.testing.assert_array_equal(base[from_image0], erased[from_image0])
    assert (erased[~from_image0] == 0).all()


def test_boxes_wholly_outside_give_zeros_and_degenerate_boxes_are_defined():
    feature = np.ones((1, 2, 6, 6), np.float32)
    rois = np.array([[0, 500, 500, 600, 600],   # far outside: every sample < -1 or > size
                     [0, 10, 10, 10, 10],       # zero size: every bin samples one point
                     [0, 30, 30, 10, 10]],      # inverted: bins walk backwards
                    np.float32)
    out = ops.roi_crop(feature, rois, 4, 8)
    assert (out[0] == 0).all()
    np.testing.assert_allclose(out[1], 1.0)
    np.testing.assert_allclose(out[2], 1.0)
    np.testing.assert_allclose(out, ref.roi_align(feature, rois, 4, 8), atol=1e-6)


def test_empty_rois_give_empty_output():
    rng = np.random.default_rng(0)
    p1, p2, p3 = make_pyramid(rng, 1, 5, 8, 8)
    rois = np.zeros((0, 5), np.float32)
    assert ops.roi_fuse(p1, p2, p3, rois, 28).shape == (0, 5, 28, 28)
    assert ops.roi_crop(p1, rois, 7, 8).shape == (0, 5, 7, 7)


@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_result_does_not_depend_on_thread_count(threads):
    # Large enough (40 x 25 x 28 x 28 = 784 K values) for the kernel to use up
    # to 6 threads: below 128 K values per thread it does not wake more.
    rng = np.random.default_rng(3)
    p1, p2, p3 = make_pyramid(rng, 2, 25, 12, 12)
    rois = make_rois(rng, 40, 2, 96, 96)
    ops.set_num_threads(1)
    try:
        single = ops.roi_fuse(p1, p2, p3, rois, 28)
        single_crop = ops.roi_crop(p1, rois, 28, 8)
        ops.set_num_threads(threads)
        assert ops.get_num_threads() == threads
        np.testing.assert_array_equal(ops.roi_fuse(p1, p2, p3, rois, 28), single)
        np.testing.assert_array_equal(ops.roi_crop(p1, rois, 28, 8), single_crop)
    finally:
        ops.set_num_threads(0)


def test_concurrent_callers_get_the_same_results():
    # The GIL is released during the work, so these calls overlap: one holds
    # the thread pool, the others start threads of their own.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(4)
    cases = []
    for k in range(6):  # 300 K+ values each: two threads per call
        p1, p2, p3 = make_pyramid(rng, 2, 17, 12, 12)
        cases.append((p1, p2, p3, make_rois(rng, 25 + k, 2, 96, 96)))
    want = [ops.roi_fuse(*c, 28) for c in cases]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            got = list(pool.map(lambda c: ops.roi_fuse(*c, 28), cases))
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)


def test_non_contiguous_inputs_and_float64_rois_are_handled():
    rng = np.random.default_rng(5)
    p1, p2, p3 = make_pyramid(rng, 1, 4, 9, 9)
    rois = make_rois(rng, 5, 1, 72, 72)
    want = ops.roi_fuse(p1, p2, p3, rois, 8)
    p1_t = np.ascontiguousarray(p1.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # F-order view
    assert not p1_t.flags.c_contiguous
    np.testing.assert_array_equal(ops.roi_fuse(p1_t, p2, p3, rois.astype(np.float64), 8), want)


def test_direct_entry_refuses_arrays_it_would_misread():
    """The C++ entry behind ops' fast path reads raw float32 memory: an array
    of another byte order, another 4-byte type or not in C order must be
    refused by name (ops then converts it or explains), never read."""
    from fassst_rt import _C

    rng = np.random.default_rng(8)
    p1, p2, p3 = make_pyramid(rng, 1, 3, 8, 8)
    rois = make_rois(rng, 4, 1, 64, 64)
    out = np.empty((4, 3, 8, 8), np.float32)

    def direct(p1=p1, p2=p2, p3=p3, rois=rois, out=out):
        _C.roi_fuse_cpu(p1, p2, p3, rois, 8, 8.0, 16.0, 32.0, out, 1)

    with pytest.raises(TypeError, match=r"roi_fuse: rois must be a C-contiguous float32 array, got dtype >f4"):
        direct(rois=rois.astype(">f4"))
    with pytest.raises(TypeError, match=r"p2 must be a C-contiguous float32 array, got dtype int32"):
        direct(p2=p2.view(np.int32))
    with pytest.raises(TypeError, match=r"p3 must .* got dtype float32 \(not C-contiguous\)"):
        direct(p3=np.asfortranarray(p3))
    with pytest.raises(TypeError, match=r"out must be a C-contiguous float32 array, got dtype float64"):
        direct(out=np.empty(out.shape, np.float64))
    with pytest.raises(TypeError, match=r"roi_crop: feature must be a C-contiguous float32 array, got dtype >f4"):
        _C.roi_crop_cpu(p1.astype(">f4"), rois, 8, 8.0, out, 1)

    want = ops.roi_fuse(p1, p2, p3, rois, 8)
    np.testing.assert_array_equal(ops.roi_fuse(p1, p2, p3, rois.astype(">f4"), 8), want)
    with pytest.raises(TypeError, match=r"p1 must be float32 on the CPU, got >f4"):
        ops.roi_fuse(p1.astype(">f4"), p2, p3, rois, 8)


def test_out_argument_is_filled_in_place():
    rng = np.random.default_rng(6)
    p1, p2, p3 = make_pyramid(rng, 1, 3, 8, 8)
    rois = make_rois(rng, 4, 1, 64, 64)
    out = np.full((4, 3, 8, 8), np.nan, np.float32)
    result = ops.roi_fuse(p1, p2, p3, rois, 8, out=out)
    assert result is out
    np.testing.assert_array_equal(out, ops.roi_fuse(p1, p2, p3, rois, 8))


def test_build_info_reports_without_crashing():
    info = ops.build_info()
    assert isinstance(info["cuda_built"], bool)
    assert info["cpu_threads"] >= 1
    if not info["cuda_built"]:
        assert info["gpu_available"] is False and "without CUDA" in info["gpu_error"]
    else:
        assert info["cuda_architectures"], "a CUDA build must name its architectures"
        assert info["gpu_available"] == bool(info["devices"])
