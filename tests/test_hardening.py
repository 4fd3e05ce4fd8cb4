"""Options and arrays a user gets wrong are refused before any work, with a
message naming the argument, the accepted range and the value: thread counts
(kernels, Segmenter, ONNX Runtime backend) and float64 batch indices that the
cast to float32 would round to a valid index."""

import re

import numpy as np
import pytest

from fassst_rt import _C, ops

from conftest import make_pyramid

TINY = "tests/data/tiny/tiny.onnx"


@pytest.fixture
def pyramid():
    return make_pyramid(np.random.default_rng(0), 2, 4, 8, 8)


@pytest.fixture
def kernel_threads():
    """Restores the kernels' thread count after a test changes it."""
    before = ops._num_threads
    yield
    ops.set_num_threads(before)


# ------------------------------------------------------------------ thread counts

def test_the_thread_bound_is_the_cores():
    assert ops.MAX_NUM_THREADS == _C.max_num_threads == 1024


@pytest.mark.parametrize("value", [1025, 10 ** 4, 2 ** 40, -1])
def test_set_num_threads_refuses_counts_outside_the_range(value, kernel_threads, pyramid):
    ops.set_num_threads(3)
    with pytest.raises(ValueError, match=r"num_threads must be in \[0, 1024\] \(0: one per hardware thread\), "
                                         r"got {}$".format(value)):
        ops.set_num_threads(value)
    assert ops.get_num_threads() == 3  # the refused value changed nothing ...
    rois = np.array([[1, 4, 4, 40, 40]], np.float32)
    assert ops.roi_fuse(*pyramid, rois, 8).shape == (1, 4, 8, 8)  # ... and later calls still work


@pytest.mark.parametrize("value", [True, 2.0, "4", None])
def test_set_num_threads_wants_an_int(value, kernel_threads):
    with pytest.raises(TypeError, match=r"num_threads must be an int, got"):
        ops.set_num_threads(value)


def test_the_bound_itself_is_accepted_and_gives_the_same_result(kernel_threads, pyramid):
    rois = np.array([[0, 1, 1, 30, 30], [1, 5, 5, 60, 40]], np.float32)
    ops.set_num_threads(1)
    one = ops.roi_fuse(*pyramid, rois, 8)
    ops.set_num_threads(np.int64(1024))
    assert ops.get_num_threads() == 1024
    np.testing.assert_array_equal(ops.roi_fuse(*pyramid, rois, 8), one)


def test_the_core_kernels_refuse_a_thread_count_beyond_the_bound(pyramid):
    """The bound is the core's: the bindings' own entry points refuse it too."""
    feature = pyramid[0]
    rois = np.array([[0, 1, 1, 30, 30]], np.float32)
    out = np.empty((1, 4, 7, 7), np.float32)
    with pytest.raises(ValueError, match=r"roi_crop: num_threads must be in \[0, 1024\].*got 1000000"):
        _C.roi_crop_cpu(feature, rois, 7, 8.0, out, 10 ** 6)
    out = np.empty((1, 4, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"roi_fuse: num_threads must be in \[0, 1024\].*got 1025"):
        _C.roi_fuse_cpu(*pyramid, rois, 8, 8.0, 16.0, 32.0, out, 1025)


def test_segmenter_and_backend_refuse_absurd_thread_counts():
    pytest.importorskip("onnxruntime")
    from fassst_rt import Segmenter
    from fassst_rt.backends.onnxruntime_backend import OnnxRuntimeBackend

    with pytest.raises(ValueError, match=r"num_threads must be in \[1, 1024\] or None, got 100000"):
        Segmenter(TINY, device="cpu", num_threads=10 ** 5)
    with pytest.raises(ValueError, match=r"num_threads must be in \[1, 1024\] or None, got 2000"):
        OnnxRuntimeBackend(TINY, device="cpu", num_threads=2000)
    # A backend object given to the Segmenter: the core's option check (configure) refuses it.
    backend = OnnxRuntimeBackend(TINY, device="cpu")
    try:
        with pytest.raises(ValueError, match=r"num_threads must be in \[0, 1024\] \(0: one per hardware thread\), "
                                             r"got 1025"):
            Segmenter(backend, num_threads=1025)
    finally:
        backend.close()


# ------------------------------------------------------------------ batch indices

@pytest.mark.parametrize("index", [0.9999999999999999, 1.0000000000000002, 0.5, 1 - 1e-12])
def test_a_float64_batch_index_must_be_an_exact_integer(pyramid, index):
    assert np.float32(index) in (0.0, 0.5, 1.0)  # what the cast alone would have let through
    rois = np.array([[0, 1, 1, 30, 30], [index, 5, 5, 60, 40]], np.float64)
    with pytest.raises(ValueError, match=r"rois\[1, 0\] \(batch_index\) must be an integer .*got "
                                         + re.escape(repr(float(index))) + "$"):
        ops.roi_fuse(*pyramid, rois, 8)
    with pytest.raises(ValueError, match=r"rois\[1, 0\] \(batch_index\) must be an integer"):
        ops.roi_crop(pyramid[0], rois, 7, 8)


def test_exact_float64_and_integer_batch_indices_still_work(pyramid):
    rois32 = np.array([[0, 1, 1, 30, 30], [1, 5, 5, 60, 40]], np.float32)
    want = ops.roi_fuse(*pyramid, rois32, 8)
    for dtype in (np.float64, np.int64, np.float16):
        np.testing.assert_array_equal(ops.roi_fuse(*pyramid, rois32.astype(dtype), 8), want)
    # NaN is named by the core's own check (not as "not an integer")
    bad = rois32.astype(np.float64)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"rois\[0, 0\] \(batch_index\) must be finite, got nan"):
        ops.roi_fuse(*pyramid, bad, 8)
