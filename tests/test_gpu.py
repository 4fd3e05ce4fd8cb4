"""The CUDA kernels on a real GPU, through device arrays (PyTorch or CuPy).
Skipped, with the reason, where this build has no CUDA or no GPU is usable."""

import numpy as np
import pytest

from fassst_rt import ops

from conftest import fuse_tolerance, make_pyramid, make_rois

_info = ops.build_info()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not _info["cuda_built"], reason="fassst_rt was built without CUDA"),
    pytest.mark.skipif(_info["cuda_built"] and not _info["gpu_available"],
                       reason="no usable GPU: {}".format(_info["gpu_error"])),
]


@pytest.fixture(scope="module")
def xp():
    """Array module with device arrays: torch (CUDA) or cupy."""
    try:
        import torch
        if torch.cuda.is_available():
            class Torch:
                name = "torch"

                @staticmethod
                def to_device(a):
                    return torch.from_numpy(np.ascontiguousarray(a)).cuda()

                @staticmethod
                def to_host(a):
                    return a.cpu().numpy()

                @staticmethod
                def stream():
                    return torch.cuda.Stream()

                @staticmethod
                def synchronize():
                    torch.cuda.synchronize()
            return Torch
    except ImportError:
        pass
    cupy = pytest.importorskip("cupy", reason="neither CUDA PyTorch nor CuPy is installed")

    class CuPy:
        name = "cupy"
        to_device = staticmethod(cupy.asarray)
        to_host = staticmethod(cupy.asnumpy)
        stream = staticmethod(lambda: cupy.cuda.Stream(non_blocking=True))
        synchronize = staticmethod(lambda: cupy.cuda.Device().synchronize())
    return CuPy


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1.0), (np.float16, 100.0)])
def test_fuse_on_device_matches_cpu(xp, dtype, tol):
    rng = np.random.default_rng(0)
    maps = make_pyramid(rng, 2, 16, 26, 26)
    rois = make_rois(rng, 20, 2, 208, 208)
    want = ops.roi_fuse(*[m.astype(dtype).astype(np.float32) for m in maps], rois, 28)
    got = ops.roi_fuse(*[xp.to_device(m.astype(dtype)) for m in maps], xp.to_device(rois), 28)
    host = np.asarray(xp.to_host(got), np.float32)
    assert host.shape == want.shape
    assert np.abs(host - want).max() <= tol * fuse_tolerance(want)


def test_crop_on_device_matches_cpu(xp):
    rng = np.random.default_rng(1)
    feature = rng.standard_normal((2, 8, 30, 20)).astype(np.float32)
    rois = make_rois(rng, 15, 2, 240, 160)
    got = xp.to_host(ops.roi_crop(xp.to_device(feature), xp.to_device(rois), 7, 8))
    np.testing.assert_allclose(got, ops.roi_crop(feature, rois, 7, 8), atol=1e-5)


def test_stream_and_out(xp):
    rng = np.random.default_rng(2)
    maps = make_pyramid(rng, 1, 8, 13, 13)
    rois = make_rois(rng, 5, 1, 104, 104)
    out = xp.to_device(np.zeros((5, 8, 12, 12), np.float32))
    stream = xp.stream()
    result = ops.roi_fuse(*[xp.to_device(m) for m in maps], xp.to_device(rois), 12, out=out,
                          stream=stream)
    xp.synchronize()
    assert result is out
    np.testing.assert_allclose(xp.to_host(out), ops.roi_fuse(*maps, rois, 12), atol=1e-5)


def test_device_rois_are_validated(xp):
    maps = [xp.to_device(m) for m in make_pyramid(np.random.default_rng(3), 1, 4, 8, 8)]
    bad = np.array([[3, 0, 0, 10, 10]], np.float32)
    with pytest.raises(ValueError, match=r"batch_index"):
        ops.roi_fuse(*maps, xp.to_device(bad), 8)
    with pytest.raises(ValueError, match=r"must be device memory|not a CUDA pointer"):
        ops.roi_fuse(*maps, xp.to_device(bad), 8, out=np.zeros((1, 4, 8, 8), np.float32))
