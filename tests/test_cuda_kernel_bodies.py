"""The CUDA kernel bodies (csrc/kernels/roi/roi_kernel.cuh), compiled by g++
under tests/cuda_harness/cuda_sim.h and run thread by thread on the CPU,
against the CPU kernels (float32) and the float64 reference (float16 inputs).
These are the very __global__ functions nvcc compiles, index arithmetic and
grid-stride loops included; only the launch is simulated."""

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fassst_rt import ops
from reference import roi_reference as ref

from conftest import fuse_tolerance, make_pyramid, make_rois

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests" / "cuda_harness"

_i64p = ctypes.POINTER(ctypes.c_int64)
_f32p = ctypes.POINTER(ctypes.c_float)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler (g++) to build the CUDA kernel harness")
    lib = tmp_path_factory.mktemp("harness") / "libroi_harness.so"
    cmd = [cxx, "-std=c++17", "-O2", "-shared", "-fPIC", "-Wall", "-Werror",
           "-I", str(ROOT / "csrc"), "-I", str(HARNESS), str(HARNESS / "harness.cpp"), "-o", str(lib)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    dll = ctypes.CDLL(str(lib))
    dll.harness_roi_crop.argtypes = [ctypes.c_int, ctypes.c_void_p, _i64p, ctypes.c_float,
                                     ctypes.c_int, _f32p, ctypes.c_int64, ctypes.c_void_p,
                                     ctypes.c_uint, ctypes.c_uint]
    dll.harness_roi_fuse.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_void_p, _i64p, _f32p, ctypes.c_int, _f32p,
                                     ctypes.c_int64, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    return dll


def _ptr(a, ctype=ctypes.c_void_p):
    return a.ctypes.data_as(ctype) if ctype is not ctypes.c_void_p else a.ctypes.data


def _dtype_code(dtype):
    return {np.dtype(np.float32): 0, np.dtype(np.float16): 1}[np.dtype(dtype)]


def run_crop(dll, feature, rois, s, stride, grid, block):
    out = np.full((len(rois), feature.shape[1], s, s), np.nan, feature.dtype)
    shape = np.asarray(feature.shape, np.int64)
    dll.harness_roi_crop(_dtype_code(feature.dtype), _ptr(feature), _ptr(shape, _i64p), stride, s,
                         _ptr(rois, _f32p), len(rois), _ptr(out), grid, block)
    return out


def run_fuse(dll, maps, rois, s, strides, grid, block):
    out = np.full((len(rois), maps[0].shape[1], s, s), np.nan, maps[0].dtype)
    shapes = np.asarray([m.shape for m in maps], np.int64).ravel()
    strides = np.asarray(strides, np.float32)
    dll.harness_roi_fuse(_dtype_code(maps[0].dtype), _ptr(maps[0]), _ptr(maps[1]), _ptr(maps[2]),
                         _ptr(shapes, _i64p), _ptr(strides, _f32p), s, _ptr(rois, _f32p), len(rois),
                         _ptr(out), grid, block)
    return out


def _launch_config(total, odd):
    """The launcher's configuration (256 threads, enough blocks) or a small odd
    grid that makes every thread walk the grid-stride loop several times."""
    return (3, 7) if odd else (max(1, -(-total // 256)), 256)


@pytest.mark.parametrize("odd_grid", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_crop_kernel_body_float32_equals_cpu_kernel(harness, seed, odd_grid):
    rng = np.random.default_rng(seed)
    feature = rng.standard_normal((2, 5, 11, 14)).astype(np.float32)
    rois = make_rois(rng, 9, 2, 11 * 8, 14 * 8)
    grid, block = _launch_config(9 * 5 * 7 * 7, odd_grid)
    got = run_crop(harness, feature, rois, 7, 8.0, grid, block)
    np.testing.assert_allclose(got, ops.roi_crop(feature, rois, 7, 8), rtol=0, atol=1e-6)


@pytest.mark.parametrize("odd_grid", [False, True])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("out_size", [8, 28])
def test_fuse_kernel_body_float32_equals_cpu_kernel(harness, seed, odd_grid, out_size):
    rng = np.random.default_rng(seed)
    maps = make_pyramid(rng, 2, 4, 13, 10)
    rois = make_rois(rng, 8, 2, 13 * 8, 10 * 8)
    grid, block = _launch_config(8 * 4 * out_size ** 2, odd_grid)
    got = run_fuse(harness, maps, rois, out_size, (8, 16, 32), grid, block)
    want = ops.roi_fuse(*maps, rois, out_size)
    assert not np.isnan(got).any(), "some output element was never written"
    assert np.abs(got - want).max() <= fuse_tolerance(want)


@pytest.mark.parametrize("seed", range(3))
def test_fuse_kernel_body_float16(harness, seed):
    """float16 in and out, float32 arithmetic: equal to the float32 path on the
    same (float16-representable) inputs, rounded once to float16."""
    rng = np.random.default_rng(10 + seed)
    maps16 = [m.astype(np.float16) for m in make_pyramid(rng, 1, 3, 9, 12)]
    rois = make_rois(rng, 6, 1, 9 * 8, 12 * 8)
    got = run_fuse(harness, maps16, rois, 12, (8, 16, 32), 4, 32)
    assert got.dtype == np.float16
    want32 = ops.roi_fuse(*[m.astype(np.float32) for m in maps16], rois, 12)
    np.testing.assert_array_equal(got, want32.astype(np.float16))
    ref64 = ref.roi_fuse(*maps16, rois, 12)
    assert np.abs(got.astype(np.float64) - ref64).max() <= 2e-3 * max(1.0, np.abs(ref64).max())


def test_crop_kernel_body_float16(harness):
    rng = np.random.default_rng(21)
    feature = rng.standard_normal((1, 3, 7, 9)).astype(np.float16)
    rois = make_rois(rng, 5, 1, 56, 72)
    got = run_crop(harness, feature, rois, 6, 8.0, 2, 64)
    want32 = ops.roi_crop(feature.astype(np.float32), rois, 6, 8)
    np.testing.assert_array_equal(got, want32.astype(np.float16))


def test_kernel_guards_batch_index_out_of_range(harness):
    """Launched without validation, an out-of-range batch index writes zeros
    instead of reading outside the maps."""
    feature = np.ones((1, 2, 4, 4), np.float32)
    rois = np.array([[5, 0, 0, 16, 16], [-1, 0, 0, 16, 16]], np.float32)
    got = run_crop(harness, feature, rois, 4, 4.0, 1, 64)
    assert (got == 0).all()
