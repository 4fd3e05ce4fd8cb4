"""Bad input to the ROI kernels raises a clear error naming the argument,
what was expected and what came; valid edge cases do not raise."""

import numpy as np
import pytest

from fassst_rt import ops

from conftest import make_pyramid


@pytest.fixture
def pyramid():
    return make_pyramid(np.random.default_rng(0), 2, 4, 8, 8)


ROIS = np.array([[0, 1, 1, 30, 30], [1, 5, 5, 60, 40]], np.float32)


def test_wrong_feature_dtype(pyramid):
    p1, p2, p3 = pyramid
    with pytest.raises(TypeError, match=r"p2 must be float32.*got float64"):
        ops.roi_fuse(p1, p2.astype(np.float64), p3, ROIS)
    with pytest.raises(TypeError, match=r"feature must be float32.*got float16"):
        ops.roi_crop(p1.astype(np.float16), ROIS, 7, 8)


def test_wrong_rank(pyramid):
    p1, p2, p3 = pyramid
    with pytest.raises(ValueError, match=r"p1 must have shape \(B, C, H, W\), got \(4, 8, 8\)"):
        ops.roi_fuse(p1[0], p2, p3, ROIS)


def test_wrong_rois_shape(pyramid):
    with pytest.raises(ValueError, match=r"rois must have shape \(K, 5\).*got \(2, 4\)"):
        ops.roi_fuse(*pyramid, ROIS[:, :4])
    with pytest.raises(ValueError, match=r"rois must have shape \(K, 5\).*got \(5,\)"):
        ops.roi_crop(pyramid[0], ROIS[0], 7, 8)


def test_not_an_array(pyramid):
    with pytest.raises(TypeError, match=r"p3 must be a NumPy array or a CUDA device array, got list"):
        ops.roi_fuse(pyramid[0], pyramid[1], [[1.0]], ROIS)
    with pytest.raises(TypeError, match=r"rois must be a float32 array, got dtype <U1"):
        ops.roi_fuse(*pyramid, np.array([["a"] * 5]))


def test_mismatched_channels_and_batch(pyramid):
    p1, p2, p3 = pyramid
    with pytest.raises(ValueError, match=r"p3 has 3 channels, expected 4 \(p1's\)"):
        ops.roi_fuse(p1, p2, p3[:, :3], ROIS)
    with pytest.raises(ValueError, match=r"p2 has batch size 1, expected 2 \(p1's\)"):
        ops.roi_fuse(p1, p2[:1], p3, ROIS)


@pytest.mark.parametrize("bad", [2, -1, 0.5])
def test_batch_index_out_of_range_or_fractional(pyramid, bad):
    rois = ROIS.copy()
    rois[1, 0] = bad
    with pytest.raises(ValueError, match=r"rois\[1, 0\] \(batch_index\) must be an integer in \[0, 2\), got"):
        ops.roi_fuse(*pyramid, rois)


@pytest.mark.parametrize("column,name", [(1, "x1"), (2, "y1"), (3, "x2"), (4, "y2")])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_boxes(pyramid, column, name, value):
    rois = ROIS.copy()
    rois[0, column] = value
    with pytest.raises(ValueError, match=r"rois\[0, {}\] \({}\) must be finite".format(column, name)):
        ops.roi_fuse(*pyramid, rois)
    with pytest.raises(ValueError, match=r"must be finite"):
        ops.roi_crop(pyramid[0], rois, 7, 8)


@pytest.mark.parametrize("size", [30, 2, 0, -4])
def test_output_size_must_be_positive_multiple_of_4(pyramid, size):
    with pytest.raises(ValueError, match=r"output_size must be a positive multiple of 4.*got {}".format(size)):
        ops.roi_fuse(*pyramid, ROIS, size)


def test_output_size_type_and_strides(pyramid):
    with pytest.raises(TypeError, match=r"output_size must be an int, got 28.0"):
        ops.roi_fuse(*pyramid, ROIS, 28.0)
    with pytest.raises(ValueError, match=r"strides must hold three numbers"):
        ops.roi_fuse(*pyramid, ROIS, 28, strides=(8, 16))
    with pytest.raises(ValueError, match=r"strides\[2\] must be a number in \[0.125, 4096\], got 0"):
        ops.roi_fuse(*pyramid, ROIS, 28, strides=(8, 16, 0))
    with pytest.raises(ValueError, match=r"stride must be a number in \[0.125, 4096\], got -8"):
        ops.roi_crop(pyramid[0], ROIS, 7, -8)
    with pytest.raises(ValueError, match=r"output_size must be >= 1, got 0"):
        ops.roi_crop(pyramid[0], ROIS, 0, 8)


@pytest.mark.parametrize("stride", [1e-40, 1e-3, 5000.0, float("nan"), float("inf")])
def test_strides_whose_map_coordinates_would_overflow_are_refused(pyramid, stride):
    with pytest.raises(ValueError, match=r"stride must be a number in \[0.125, 4096\]"):
        ops.roi_crop(pyramid[0], ROIS, 8, stride)
    with pytest.raises(ValueError, match=r"strides\[0\] must be a number in \[0.125, 4096\]"):
        ops.roi_fuse(*pyramid, ROIS, 28, strides=(stride, 16, 32))


@pytest.mark.parametrize("value", [3e38, -3e38, 2.0 ** 25])
def test_roi_coordinates_beyond_2_24_pixels_are_refused(pyramid, value):
    rois = ROIS.copy()
    rois[0, 3] = value
    with pytest.raises(ValueError, match=r"rois\[0, 3\] \(x2\) must be within \+-16777216 input pixels"):
        ops.roi_fuse(*pyramid, rois)
    rois[0, 3] = 2.0 ** 24  # the bound itself is valid
    ops.roi_crop(pyramid[0], rois, 8, 8)


def test_empty_feature_maps(pyramid):
    p1, p2, p3 = pyramid
    with pytest.raises(ValueError, match=r"p1 must have shape \(B, C, H, W\) with every size >= 1, got \(2, 4, 0, 8\)"):
        ops.roi_fuse(p1[:, :, :0], p2, p3, ROIS)


def test_bad_out_argument(pyramid):
    with pytest.raises(ValueError, match=r"out must have shape \(2, 4, 28, 28\), got \(2, 4, 28, 27\)"):
        ops.roi_fuse(*pyramid, ROIS, out=np.empty((2, 4, 28, 27), np.float32))
    with pytest.raises(TypeError, match=r"out must be a C-contiguous float32 NumPy array"):
        ops.roi_fuse(*pyramid, ROIS, out=np.empty((2, 4, 28, 28), np.float64))
    read_only = np.empty((2, 4, 28, 28), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match=r"out must be writeable"):
        ops.roi_fuse(*pyramid, ROIS, out=read_only)


def test_device_path_without_gpu_is_a_clear_error(pyramid):
    """An object claiming to be a CUDA array is refused cleanly where this
    build has no CUDA or no GPU is usable; nothing is dereferenced."""
    class FakeDeviceArray:
        __cuda_array_interface__ = {"shape": (2, 4, 8, 8), "typestr": "<f4", "data": (1234, False),
                                    "version": 3, "strides": None}
    if ops.build_info()["gpu_available"]:
        pytest.skip("a GPU is present: the device path is exercised by tests/test_gpu.py")
    with pytest.raises(RuntimeError, match=r"CUDA device array was given but"):
        ops.roi_fuse(FakeDeviceArray(), *pyramid[1:], ROIS)


def test_set_num_threads_rejects_bad_values():
    with pytest.raises(ValueError, match=r"num_threads must be in \[0, 1024\] \(0: one per hardware thread\), got -1"):
        ops.set_num_threads(-1)
