"""Views of device arrays given through ``__cuda_array_interface__`` or DLPack.

The ROI kernels take raw pointers; this module reads them out of the two
protocols other libraries (CuPy, PyTorch, JAX, Numba, NumPy) speak, checks
layout and dtype, and keeps the producer alive while the pointer is used.
"""

import ctypes
from typing import Any, NamedTuple, Optional, Tuple

import numpy as np

# DLPack's device types and dtype codes (dlpack.h, a stable ABI).
DL_CPU = 1
DL_CUDA = 2
DL_CUDA_MANAGED = 13
_DL_FLOAT = 2


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    pass


_DLManagedTensor._fields_ = [
    ("dl_tensor", _DLTensor),
    ("manager_ctx", ctypes.c_void_p),
    ("deleter", ctypes.CFUNCTYPE(None, ctypes.POINTER(_DLManagedTensor))),
]

_capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get_pointer.restype = ctypes.c_void_p
_capsule_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_set_name = ctypes.pythonapi.PyCapsule_SetName
_capsule_set_name.restype = ctypes.c_int
_capsule_set_name.argtypes = [ctypes.py_object, ctypes.c_char_p]


class DeviceView(NamedTuple):
    """A C-contiguous device array: pointer, shape, NumPy dtype, device index."""

    ptr: int
    shape: Tuple[int, ...]
    dtype: np.dtype
    device: int
    owner: Any  # keeps the producer (or the DLPack capsule's tensor) alive


def is_device_array(obj: Any) -> bool:
    """True for objects that live on a CUDA device (CAI, or DLPack on CUDA)."""
    if hasattr(obj, "__cuda_array_interface__"):
        return True
    if hasattr(obj, "__dlpack_device__") and not isinstance(obj, np.ndarray):
        device_type, _ = obj.__dlpack_device__()
        return int(device_type) in (DL_CUDA, DL_CUDA_MANAGED)
    return False


def _contiguous_strides(shape: Tuple[int, ...], itemsize: int) -> Tuple[int, ...]:
    strides, step = [], itemsize
    for dim in reversed(shape):
        strides.append(step)
        step *= max(dim, 1)
    return tuple(reversed(strides))


def _check_contiguous(name: str, shape, strides_bytes, itemsize: int) -> None:
    if strides_bytes is None:
        return
    expected = _contiguous_strides(tuple(shape), itemsize)
    significant = [(s, e) for s, e, d in zip(strides_bytes, expected, shape) if d > 1]
    if any(s != e for s, e in significant):
        raise ValueError(
            "{} must be a C-contiguous device array, got strides {} (bytes) for shape {}; "
            "make it contiguous first (e.g. .contiguous() / cupy.ascontiguousarray)".format(
                name, tuple(strides_bytes), tuple(shape)))


def _from_cai(name: str, obj: Any) -> DeviceView:
    cai = obj.__cuda_array_interface__
    ptr, _read_only = cai["data"]
    shape = tuple(int(d) for d in cai["shape"])
    dtype = np.dtype(cai["typestr"])
    _check_contiguous(name, shape, cai.get("strides"), dtype.itemsize)
    return DeviceView(int(ptr or 0), shape, dtype, -1, obj)


class _DLPackOwner:
    """Owns a consumed DLPack capsule and calls its deleter exactly once."""

    def __init__(self, managed: "ctypes._Pointer", producer: Any) -> None:
        self._managed = managed
        self._producer = producer

    def __del__(self) -> None:
        managed, self._managed = self._managed, None
        if managed is not None and managed.contents.deleter:
            managed.contents.deleter(managed)


def _from_dlpack(name: str, obj: Any, stream: Optional[int]) -> DeviceView:
    capsule = obj.__dlpack__(stream=stream) if stream is not None else obj.__dlpack__()
    address = _capsule_get_pointer(capsule, b"dltensor")
    managed = ctypes.cast(address, ctypes.POINTER(_DLManagedTensor))
    _capsule_set_name(capsule, b"used_dltensor")  # we own it now: the capsule must not free it
    owner = _DLPackOwner(managed, obj)
    t = managed.contents.dl_tensor
    if t.dtype.code != _DL_FLOAT or t.dtype.lanes != 1 or t.dtype.bits not in (16, 32):
        raise TypeError("{} must hold float32 or float16 values, got DLPack dtype code {} bits {}"
                        .format(name, t.dtype.code, t.dtype.bits))
    dtype = np.dtype(np.float32 if t.dtype.bits == 32 else np.float16)
    shape = tuple(t.shape[i] for i in range(t.ndim))
    if t.strides:
        _check_contiguous(name, shape, [t.strides[i] * dtype.itemsize for i in range(t.ndim)],
                          dtype.itemsize)
    return DeviceView(int(t.data or 0) + int(t.byte_offset), shape, dtype, int(t.device.device_id),
                      owner)


def device_view(name: str, obj: Any, stream: Optional[int] = None) -> DeviceView:
    """Reads pointer, shape and dtype of a device array; raises naming ``name``."""
    if hasattr(obj, "__cuda_array_interface__"):
        return _from_cai(name, obj)
    if hasattr(obj, "__dlpack__"):
        return _from_dlpack(name, obj, stream)
    raise TypeError("{} must be a NumPy array or a CUDA device array "
                    "(__cuda_array_interface__ or DLPack), got {}".format(name, type(obj).__name__))


class DeviceArray:
    """A device array allocated by fassst_rt, handed out through
    ``__cuda_array_interface__`` (CuPy, Numba, PyTorch's ``torch.as_tensor`` read it)."""

    def __init__(self, shape: Tuple[int, ...], dtype: Any, buffer: Any) -> None:
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self._buffer = buffer  # owns the memory, has its address as .ptr (_C.KernelOutputBuffer, or a TensorRT buffer)

    @property
    def ptr(self) -> int:
        return int(self._buffer.ptr)

    @property
    def __cuda_array_interface__(self) -> dict:
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (self.ptr, False),
            "version": 3,
            "strides": None,
            "stream": None,
        }

    def __repr__(self) -> str:
        return "DeviceArray(shape={}, dtype={})".format(self.shape, self.dtype)
