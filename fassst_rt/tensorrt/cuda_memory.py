"""Device memory, pinned host memory and a CUDA stream, through cuda-python.

The TensorRT backend needs three things from CUDA: device buffers for the
engines' inputs and outputs, pinned (page-locked) host buffers so that copies
are truly asynchronous, and a stream that orders copies, engine runs and the
``roi_fuse`` kernel. Each is an owning class with ``close()`` and context
manager use; every CUDA status becomes a :class:`CudaError` in one place
(:func:`check`).

cuda-python is imported as ``cuda.bindings.runtime`` (cuda-python 12.6 on)
or ``cuda.cudart`` (older releases, e.g. 11.8 for JetPack 5's CUDA 11.4).
Choose the cuda-python major version of the CUDA driver: for CUDA 11.x
(JetPack 5) exactly ``cuda-python==11.8.2`` (the last 11.x release with
Python 3.8 wheels of its own; JetPack's stock pip 20.0.2 cannot resolve
``cuda-python<12``, whose newer releases depend on cuda-bindings wheels that
do not exist for Python 3.8), ``<13`` for 12.x. pycuda is a possible fallback for machines
without cuda-python; it is not wired in (docs/tensorrt.md).

Nothing is imported at module level: the module imports on machines without
cuda-python, and :func:`gpu_status` never raises.
"""

import ctypes
from typing import Any, NamedTuple, Optional, Tuple, TypeVar

import numpy as np

# The exact JetPack 5 command, also in docs/tensorrt.md (tests/test_tensorrt_nogpu.py keeps them equal).
JETPACK5_CUDA_PYTHON = 'python3 -m pip install "cuda-python==11.8.2"'
CUDA_PYTHON_HINT = ("install cuda-python, its major version matching the CUDA driver: on JetPack 5 (CUDA 11.4, "
                    "Python 3.8) `{}`; for CUDA 12.x `pip install \"cuda-python<13\"`".format(JETPACK5_CUDA_PYTHON))


class CudaError(RuntimeError):
    """A CUDA runtime call failed."""


def import_cudart() -> Any:
    """The CUDA runtime module of cuda-python; ImportError saying what to install."""
    try:
        # cuda-python ships no type information (Cython modules without .pyi):
        # mypy cannot check these calls, so the imports are typed as Any.
        from cuda.bindings import runtime  # type: ignore[import-not-found,import-untyped,unused-ignore]
        return runtime
    except ImportError:
        pass
    try:
        from cuda import cudart  # type: ignore[import-not-found,import-untyped,attr-defined,unused-ignore]
        return cudart
    except ImportError:
        raise ImportError("cuda-python is not installed; {}".format(CUDA_PYTHON_HINT)) from None


_cudart = None  # type: Any


def _rt() -> Any:
    global _cudart
    if _cudart is None:
        _cudart = import_cudart()
    return _cudart


def _error_text(rt: Any, err: Any) -> str:
    try:
        name = rt.cudaGetErrorName(err)[1]
        text = rt.cudaGetErrorString(err)[1]
        return "{}: {}".format(name.decode() if isinstance(name, bytes) else name,
                               text.decode() if isinstance(text, bytes) else text)
    except Exception:  # the error query itself failed (no driver): the code is all we have
        return str(err)


def check(result: Any, what: str) -> Any:
    """cuda-python returns ``(status, *values)``; raises CudaError naming
    ``what`` unless the status is success, and returns the value (None, one
    value, or a tuple of them)."""
    rt = _rt()
    if not isinstance(result, tuple):
        result = (result,)
    status, values = result[0], result[1:]
    if status != rt.cudaError_t.cudaSuccess:
        raise CudaError("{} failed ({})".format(what, _error_text(rt, status)))
    if not values:
        return None
    return values[0] if len(values) == 1 else values


# ---------------------------------------------------------------- the device

class DeviceInfo(NamedTuple):
    device: int
    name: str
    compute_capability: Tuple[int, int]
    total_memory: int


class GpuStatus(NamedTuple):
    devices: int    # usable CUDA devices (0 when there is none, or no driver)
    reason: str     # why there is none ("" when count > 0)


def gpu_status() -> GpuStatus:
    """How many CUDA devices are visible; never raises. Asks the CUDA runtime
    (cudaGetDeviceCount) only: no context is created and TensorRT is not
    touched, which is what makes it safe where there is no GPU (a TensorRT
    runtime constructed without one can take the process down)."""
    try:
        rt = _rt()
    except ImportError as exc:
        return GpuStatus(0, str(exc))
    try:
        result = rt.cudaGetDeviceCount()
    except Exception as exc:  # cuda-python cannot load the driver library at all
        return GpuStatus(0, "the CUDA runtime cannot start: {}: {}".format(type(exc).__name__, exc))
    status = result[0]
    if status != rt.cudaError_t.cudaSuccess:  # the count is then None (no driver, no device...)
        return GpuStatus(0, "cudaGetDeviceCount failed: {}".format(_error_text(rt, status)))
    count = int(result[1])
    if count == 0:
        return GpuStatus(0, "cudaGetDeviceCount reports 0 devices")
    return GpuStatus(count, "")


def device_info(index: int) -> DeviceInfo:
    rt = _rt()
    attr = rt.cudaDeviceAttr
    major = check(rt.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMajor, index),
                  "reading the compute capability of CUDA device {}".format(index))
    minor = check(rt.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMinor, index),
                  "reading the compute capability of CUDA device {}".format(index))
    props = check(rt.cudaGetDeviceProperties(index), "reading the properties of CUDA device {}".format(index))
    name = props.name
    name = name.split(b"\0", 1)[0].decode(errors="replace") if isinstance(name, bytes) else str(name)
    return DeviceInfo(index, name, (int(major), int(minor)), int(props.totalGlobalMem))


def set_device(index: int) -> None:
    """Makes ``index`` the calling thread's device (its primary context is
    then current, which TensorRT and the fassst_rt kernels use as well)."""
    check(_rt().cudaSetDevice(index), "cudaSetDevice({})".format(index))


# ------------------------------------------------------------------ memory

_O = TypeVar("_O", bound="_Owned")


class _Owned:
    """A CUDA resource released by ``close()`` (idempotent); also a context
    manager, and released when collected as a safety net only: owners call
    close(), since a finaliser may run after the CUDA context is gone."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _O) -> _O:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class DeviceBuffer(_Owned):
    """An owning cudaMalloc allocation made through cuda-python (the engines'
    tensors; not fassst_rt._C.KernelOutputBuffer, which the compiled kernels
    allocate). ``ptr`` is the device address (what TensorRT's
    set_tensor_address and the kernels take)."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = int(nbytes)
        self.ptr = 0
        if self.nbytes > 0:
            self.ptr = int(check(_rt().cudaMalloc(self.nbytes), "cudaMalloc({} bytes)".format(self.nbytes)))

    def close(self) -> None:
        ptr, self.ptr = self.ptr, 0
        if ptr:
            check(_rt().cudaFree(ptr), "cudaFree")


class PinnedBuffer(_Owned):
    """An owning cudaMallocHost allocation, seen from NumPy through
    :meth:`array` (views into the same memory)."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = int(nbytes)
        self.ptr = 0
        if self.nbytes > 0:
            self.ptr = int(check(_rt().cudaMallocHost(self.nbytes), "cudaMallocHost({} bytes)".format(self.nbytes)))
        self._bytes = np.zeros(0, np.uint8)  # type: np.ndarray
        if self.ptr:
            self._bytes = np.ctypeslib.as_array((ctypes.c_uint8 * self.nbytes).from_address(self.ptr))

    def array(self, shape: Tuple[int, ...], dtype: Any) -> np.ndarray:
        """A C-contiguous view of the first bytes as ``shape`` of ``dtype``;
        valid while this buffer is open."""
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
        nbytes = count * dtype.itemsize
        if nbytes > self.nbytes:
            raise ValueError("a pinned buffer of {} bytes cannot hold {} {} ({} bytes)".format(
                self.nbytes, tuple(shape), dtype, nbytes))
        view = self._bytes[:nbytes].view(dtype).reshape(shape)  # type: np.ndarray
        return view

    def close(self) -> None:
        ptr, self.ptr = self.ptr, 0
        self._bytes = np.zeros(0, np.uint8)  # no view of freed memory stays reachable from here
        if ptr:
            check(_rt().cudaFreeHost(ptr), "cudaFreeHost")


class Stream(_Owned):
    """An owning non-blocking CUDA stream. ``handle`` is the cudaStream_t as
    an int (what TensorRT's execute_async_v3 and the kernels take)."""

    def __init__(self) -> None:
        rt = _rt()
        self._stream = check(rt.cudaStreamCreateWithFlags(rt.cudaStreamNonBlocking), "cudaStreamCreateWithFlags")
        self.handle = int(self._stream)

    def synchronize(self) -> None:
        if self._stream is None:
            raise CudaError("the stream is closed")
        check(_rt().cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")

    def close(self) -> None:
        stream, self._stream = self._stream, None
        self.handle = 0
        if stream is not None:
            check(_rt().cudaStreamDestroy(stream), "cudaStreamDestroy")


def copy_to_device(dst_ptr: int, src: np.ndarray, stream: Stream, nbytes: Optional[int] = None) -> None:
    """Asynchronous host -> device copy of ``src`` (pinned for the copy to be
    asynchronous; ``src`` must stay alive until the stream is synchronised)."""
    rt = _rt()
    count = src.nbytes if nbytes is None else int(nbytes)
    if count:
        check(rt.cudaMemcpyAsync(dst_ptr, src.ctypes.data, count, rt.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                 stream.handle), "cudaMemcpyAsync host -> device ({} bytes)".format(count))


def copy_to_host(dst: np.ndarray, src_ptr: int, stream: Stream, nbytes: Optional[int] = None) -> None:
    """Asynchronous device -> host copy into ``dst`` (valid after the stream
    is synchronised)."""
    rt = _rt()
    count = dst.nbytes if nbytes is None else int(nbytes)
    if count:
        check(rt.cudaMemcpyAsync(dst.ctypes.data, src_ptr, count, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost,
                                 stream.handle), "cudaMemcpyAsync device -> host ({} bytes)".format(count))


def copy_on_device(dst_ptr: int, src_ptr: int, nbytes: int, stream: Stream) -> None:
    """Asynchronous device -> device copy of ``nbytes`` (no alignment needed)."""
    rt = _rt()
    if nbytes:
        check(rt.cudaMemcpyAsync(dst_ptr, src_ptr, int(nbytes), rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice,
                                 stream.handle), "cudaMemcpyAsync device -> device ({} bytes)".format(nbytes))
