"""The ROI kernels: ``roi_crop`` (RoIAlign) and ``roi_fuse`` (RFF).

Numerics (docs/kernels.md): ``roi_crop`` is RoIAlign with ``aligned=True`` and
``sampling_ratio=1``; ``roi_fuse`` is ``relu(R1 + up2(R2 + up2(R3)))`` with
R1, R2, R3 the crops of p1, p2, p3 at S, S/2, S/4 and ``up2`` bilinear x2
upsampling with ``align_corners=False``, computed in one pass.

Arrays: features are (B, M, H, W), ``rois`` (K, 5) rows
``[batch_index, x1, y1, x2, y2]`` in network-input pixels. NumPy in, NumPy out
(float32, CPU, multi-threaded, the GIL released). CUDA device arrays in
(anything with ``__cuda_array_interface__`` or DLPack, float32 or float16),
device arrays out, when the module was built with CUDA and a GPU is present.

Non-contiguous NumPy inputs are copied to C order; ``rois`` of another float
or integer dtype are cast to float32. Everything else that is wrong raises
``TypeError`` or ``ValueError`` naming the argument.
"""

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from . import _C
from ._device import DeviceArray, device_view, is_device_array

__all__ = ["roi_crop", "roi_fuse", "build_info", "set_num_threads", "get_num_threads"]

_num_threads = 0  # 0: one worker per hardware thread

# The most worker threads a call may use (the core's bound, csrc/parallel/thread_pool.h).
MAX_NUM_THREADS = int(_C.max_num_threads)


def set_num_threads(num_threads: int) -> None:
    """Sets the CPU worker threads of the kernels: 0 (one per hardware
    thread) to :data:`MAX_NUM_THREADS`."""
    global _num_threads
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)):
        raise TypeError("num_threads must be an int, got {!r}".format(num_threads))
    if not 0 <= num_threads <= MAX_NUM_THREADS:
        raise ValueError("num_threads must be in [0, {}] (0: one per hardware thread), got {}".format(
            MAX_NUM_THREADS, num_threads))
    _num_threads = int(num_threads)


def get_num_threads() -> int:
    """CPU worker threads the kernels use now."""
    return _num_threads if _num_threads > 0 else int(_C.default_num_threads())


def build_info() -> Dict[str, Any]:
    """What this build has: CUDA kernels or not, for which architectures, and
    whether a GPU is usable right now. Never raises where there is no GPU."""
    info = {
        "cuda_built": bool(_C.with_cuda),
        "cuda_architectures": [a for a in str(_C.cuda_architectures).split(",") if a],
        "cpu_threads": get_num_threads(),
        "gpu_available": False,
        "devices": [],
        "cuda_runtime_version": None,
        "cuda_driver_version": None,
        "gpu_error": "fassst_rt was built without CUDA" if not _C.with_cuda else "",
    }
    if _C.with_cuda:
        status = _C.cuda_status()
        info["devices"] = status["devices"]
        info["cuda_runtime_version"] = status["runtime_version"]
        info["cuda_driver_version"] = status["driver_version"] or None
        info["gpu_available"] = bool(status["devices"])
        info["gpu_error"] = status["error"]
    return info


# ---------------------------------------------------------------- host arrays

def _host_feature(name: str, value: Any) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        value = _from_cpu_dlpack(name, value)
    if value.dtype != np.float32:
        raise TypeError("{} must be float32 on the CPU, got {} (convert with .astype(np.float32))"
                        .format(name, value.dtype))
    if value.ndim != 4:
        raise ValueError("{} must have shape (B, C, H, W), got {}".format(name, value.shape))
    return np.ascontiguousarray(value)


def _host_rois(value: Any) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        value = _from_cpu_dlpack("rois", value)
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise TypeError("rois must be a float32 array, got dtype {}".format(value.dtype))
    if value.ndim != 2 or value.shape[1] != 5:
        raise ValueError("rois must have shape (K, 5) rows [batch_index, x1, y1, x2, y2], got {}"
                         .format(value.shape))
    if value.dtype != np.float32 and np.issubdtype(value.dtype, np.floating):
        _check_batch_indices_exact(value[:, 0])
    return np.ascontiguousarray(value, dtype=np.float32)


def _check_batch_indices_exact(column: np.ndarray) -> None:
    """Batch indices of a non-float32 float array are checked before the cast
    to float32, which would round 0.9999999999999999 to a valid 1. (NaN and
    infinity pass here: the core names them.)"""
    finite = np.isfinite(column)
    wrong = finite & (column != np.floor(column))
    if wrong.any():
        k = int(np.flatnonzero(wrong)[0])
        raise ValueError("rois[{}, 0] (batch_index) must be an integer (exactly, before the cast to float32), "
                         "got {!r}".format(k, float(column[k])))


def _from_cpu_dlpack(name: str, value: Any) -> np.ndarray:
    if hasattr(value, "__dlpack__") and hasattr(np, "from_dlpack"):
        return np.from_dlpack(value)
    raise TypeError("{} must be a NumPy array or a CUDA device array, got {}"
                    .format(name, type(value).__name__))


def _host_out(out: Optional[np.ndarray], shape: Tuple[int, ...]) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype=np.float32)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise TypeError("out must be a C-contiguous float32 NumPy array of shape {}".format(shape))
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    return out


def _output_size(value: Any, multiple: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError("output_size must be an int, got {!r}".format(value))
    if value < multiple or value % multiple:
        if multiple == 1:
            raise ValueError("output_size must be >= 1, got {}".format(value))
        raise ValueError("output_size must be a positive multiple of {} (levels are cropped at "
                         "S, S/2, S/4), got {}".format(multiple, value))
    return int(value)


# -------------------------------------------------------------- device arrays

def _require_gpu() -> None:
    if not _C.with_cuda:
        raise RuntimeError("a CUDA device array was given but fassst_rt was built without CUDA; "
                           "rebuild with -Ccmake.define.FASSST_WITH_CUDA=ON")
    status = _C.cuda_status()
    if not status["devices"]:
        raise RuntimeError("a CUDA device array was given but no GPU is usable: {}"
                           .format(status["error"] or "no device"))


def _stream_handle(stream: Any) -> int:
    """An int handle from None (default stream), an int, or a stream object of
    CuPy (``.ptr``), PyTorch (``.cuda_stream``) or cuda-python (``int()``)."""
    if stream is None:
        return 0
    for attr in ("cuda_stream", "ptr", "handle"):
        if hasattr(stream, attr):
            return int(getattr(stream, attr))
    try:
        return int(stream)
    except (TypeError, ValueError):
        raise TypeError("stream must be None, an int handle or a CUDA stream object, got {}"
                        .format(type(stream).__name__)) from None


def _device_out(out: Any, like: Any, shape: Tuple[int, ...], dtype: np.dtype, stream: int) -> Any:
    if out is None:
        if hasattr(like, "new_empty"):  # PyTorch tensor: answer in kind
            return like.new_empty(shape)
        module = type(like).__module__.split(".")[0]
        if module == "cupy":
            import cupy  # noqa: F401  (only reached when the input is a CuPy array)
            return cupy.empty(shape, dtype=dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        return DeviceArray(shape, dtype, _C.KernelOutputBuffer(nbytes))
    view = device_view("out", out, stream)
    if view.shape != shape or view.dtype != dtype:
        raise ValueError("out must have shape {} and dtype {}, got {} {}"
                         .format(shape, dtype, view.shape, view.dtype))
    return out


def _device_rois(rois: Any, stream: int):
    view = device_view("rois", rois, stream)
    if view.dtype != np.float32:
        raise TypeError("rois must be float32, got {}".format(view.dtype))
    if len(view.shape) != 2 or view.shape[1] != 5:
        raise ValueError("rois must have shape (K, 5) rows [batch_index, x1, y1, x2, y2], got {}"
                         .format(view.shape))
    return view


def _device_features(names: Sequence[str], arrays: Sequence[Any], stream: int):
    views = [device_view(n, a, stream) for n, a in zip(names, arrays)]
    for n, v in zip(names, views):
        if v.dtype not in (np.float32, np.float16):
            raise TypeError("{} must be float32 or float16 on CUDA, got {}".format(n, v.dtype))
        if v.dtype != views[0].dtype:
            raise TypeError("{} has dtype {}, expected {} ({}'s)".format(n, v.dtype, views[0].dtype,
                                                                        names[0]))
        if len(v.shape) != 4:
            raise ValueError("{} must have shape (B, C, H, W), got {}".format(n, v.shape))
    return views


# ------------------------------------------------------------ host fast path

# The common host call (float32 C-contiguous NumPy arrays, an int S) goes
# straight to the C++ entry point: its argument casting (float32, C order, no
# conversion) rejects anything else with a TypeError, and it validates sizes
# and values itself. A call it rejects falls through to the checked path,
# which converts what it may or raises a clear error (a failing call writes
# nothing, so trying again is safe). Why: the checked path touches a dozen
# Python and NumPy functions, and when their code is out of the caches (after
# a frame engine ran, as in every frame) that is a sizeable share of a small
# roi_fuse. The fast path is written out in each op rather than shared
# through a helper taking a closure: each Python call it saves costs
# microseconds when cold. Re-measure with
# `python benchmarks/kernels.py --call-overhead` (cold and warm small calls).
_REJECTED = (TypeError, ValueError, IndexError)
_ndarray = np.ndarray


def _new_host_out(rois: np.ndarray, like: np.ndarray, s: int) -> Optional[np.ndarray]:
    """A new (K, C, S, S) float32 result for the fast path, C from ``like``;
    None when the shapes do not allow one (the checked path then says why)."""
    if rois.ndim != 2 or like.ndim != 4 or s < 1:
        return None
    return np.empty((rois.shape[0], like.shape[1], s, s), np.float32)


# ----------------------------------------------------------------- public ops

def roi_crop(feature: Any, rois: Any, output_size: int, stride: float, *,
             out: Any = None, stream: Any = None, validate: bool = True) -> Any:
    """RoIAlign (aligned, sampling_ratio 1) of one pyramid level.

    Args:
        feature: (B, C, H, W) float32 NumPy array, or a CUDA device array.
        rois: (K, 5) rows ``[batch_index, x1, y1, x2, y2]`` in input pixels.
        output_size: S, the crop is S x S.
        stride: the level's stride in input pixels (spatial scale 1/stride).
        out: optional preallocated (K, C, S, S) output of the input's kind.
        stream: CUDA stream for device arrays (default stream when None).
        validate: device arrays only: copy ``rois`` to the host and check them
            before launch (one small copy and a stream sync).
    Returns:
        (K, C, S, S) array of the input's kind.
    """
    if type(feature) is _ndarray and type(rois) is _ndarray and type(output_size) is int:
        result = _new_host_out(rois, feature, output_size) if out is None else out
        if type(result) is _ndarray:
            try:
                _C.roi_crop_cpu(feature, rois, output_size, stride, result, _num_threads)
                return result
            except _REJECTED:
                pass
    s = _output_size(output_size, 1)
    if is_device_array(feature):
        _require_gpu()
        handle = _stream_handle(stream)
        f = _device_features(["feature"], [feature], handle)[0]
        r = _device_rois(rois, handle)
        shape = (r.shape[0], f.shape[1], s, s)
        result = _device_out(out, feature, shape, f.dtype, handle)
        o = device_view("out", result, handle)
        _C.roi_crop_cuda(f.ptr, f.dtype.name, list(f.shape), r.ptr, r.shape[0], s, float(stride),
                         o.ptr, handle, validate)
        return result
    f, r = _host_feature("feature", feature), _host_rois(rois)
    result = _host_out(out, (r.shape[0], f.shape[1], s, s))
    _C.roi_crop_cpu(f, r, s, float(stride), result, _num_threads)
    return result


def roi_fuse(p1: Any, p2: Any, p3: Any, rois: Any, output_size: int = 28,
             strides: Sequence[float] = (8, 16, 32), *, out: Any = None, stream: Any = None,
             validate: bool = True) -> Any:
    """ROI feature fusion ``relu(R1 + up2(R2 + up2(R3)))`` in one pass.

    Args:
        p1, p2, p3: (B, M, H_l, W_l) pyramid mask layers (float32 NumPy, or
            CUDA device arrays of one dtype, float32 or float16).
        rois: (K, 5) rows ``[batch_index, x1, y1, x2, y2]`` in input pixels.
        output_size: S (a multiple of 4); p2 and p3 are cropped at S/2, S/4.
        strides: the three levels' strides in input pixels.
        out, stream, validate: as for :func:`roi_crop`.
    Returns:
        (K, M, S, S) array of the input's kind.
    """
    if (type(p1) is _ndarray and type(rois) is _ndarray and type(output_size) is int
            and type(strides) is tuple and len(strides) == 3):
        result = _new_host_out(rois, p1, output_size) if out is None else out
        if type(result) is _ndarray:
            try:
                _C.roi_fuse_cpu(p1, p2, p3, rois, output_size, strides[0], strides[1], strides[2], result,
                                _num_threads)
                return result
            except _REJECTED:
                pass
    s = _output_size(output_size, 4)
    strides = tuple(strides)
    if len(strides) != 3:
        raise ValueError("strides must hold three numbers (p1, p2, p3), got {!r}".format(strides))
    if is_device_array(p1):
        _require_gpu()
        handle = _stream_handle(stream)
        views = _device_features(["p1", "p2", "p3"], [p1, p2, p3], handle)
        r = _device_rois(rois, handle)
        shape = (r.shape[0], views[0].shape[1], s, s)
        result = _device_out(out, p1, shape, views[0].dtype, handle)
        o = device_view("out", result, handle)
        _C.roi_fuse_cuda(views[0].ptr, views[1].ptr, views[2].ptr, views[0].dtype.name,
                         [list(v.shape) for v in views], r.ptr, r.shape[0], s,
                         [float(x) for x in strides], o.ptr, handle, validate)
        return result
    maps = [_host_feature(n, a) for n, a in (("p1", p1), ("p2", p2), ("p3", p3))]
    r = _host_rois(rois)
    result = _host_out(out, (r.shape[0], maps[0].shape[1], s, s))
    _C.roi_fuse_cpu(maps[0], maps[1], maps[2], r, s, float(strides[0]), float(strides[1]),
                    float(strides[2]), result, _num_threads)
    return result
