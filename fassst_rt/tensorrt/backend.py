"""TensorRT backend: ``NAME.plan`` (frame engine), ``NAME.tail.plan`` (tail
engine) and ``NAME.plan.json`` (sidecar: metadata, TensorRT version, compute
capability, precision, profiles, hashes), made by ``fassst-rt build`` on the
device that runs them (docs/tensorrt.md).

Opening a plan, in this order:
1. the three files exist, the sidecar is valid and records both engines'
   sha256 (a corrupt or mismatched engine is refused before TensorRT sees it);
2. tensorrt and cuda-python import and a CUDA device exists -- asked through
   the CUDA runtime, before any TensorRT object is made: a TensorRT runtime
   constructed where there is no GPU can take the whole process down;
3. the running TensorRT version and the GPU's compute capability equal those
   recorded in the sidecar; otherwise the error gives the exact
   ``fassst-rt build`` command that rebuilds the engines here;
4. the engines deserialize and their tensors agree with the metadata.

Running: one CUDA stream orders everything. The frame engine writes boxes,
scores and the pyramid p1, p2, p3 into device buffers; boxes and scores come
to pinned host memory for the selection, the pyramid stays on the device.
``fuse_and_tail`` copies the K selected boxes to the device, runs the CUDA
``roi_fuse`` kernel on the pyramid's device pointers straight into the tail
engine's input buffer, runs the tail engine and copies the K masks back. No
feature map makes a host round trip. Where fassst_rt was built without its
CUDA kernels, the pyramid is copied to the host and fused by the CPU kernel
instead (``fuse_location`` says which).

This backend is written against TensorRT's name-based API (8.5 on) and
type-checked against the tensorrt-stubs package; it has not been run on a GPU
by the project's own CI (no GPU there).
"""

import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import numpy as np

from .. import ops
from .._device import DeviceArray
from ..backends.base import Backend, FrameOutputs, ModelError
from ..model_files import FRAME_INPUT, FRAME_OUTPUTS, PYRAMID_OUTPUTS, TAIL_INPUT, TAIL_OUTPUT, plan_paths
from . import compat as trt_compat
from . import cuda_memory as cm
from .chunks import plan_chunks
from .plan import compatibility_problems, onnx_path_of, read_sidecar, rebuild_command

if TYPE_CHECKING:
    import tensorrt as trt


class TensorRTUnavailableError(RuntimeError):
    """This machine cannot run TensorRT engines (no tensorrt, no cuda-python,
    or no GPU)."""


def parse_device(device: Any) -> int:
    """"auto", "cuda", "gpu", "cuda:N" or N -> the CUDA device index."""
    if isinstance(device, (int, np.integer)) and not isinstance(device, bool) and device >= 0:
        return int(device)
    text = str(device).lower()
    if text in ("auto", "cuda", "gpu"):
        return 0
    if text.startswith("cuda:") and text[5:].isdigit():
        return int(text[5:])
    if text == "cpu":
        raise ValueError("device='cpu': TensorRT engines run on an NVIDIA GPU only; on the CPU open the "
                         "ONNX model (NAME.onnx) instead")
    raise ValueError("device must be 'auto', 'cuda', 'cuda:N' or an int for TensorRT, got {!r}".format(device))


def runtime_problems() -> Tuple[Optional[str], List[str]]:
    """(TensorRT version or None, what is missing to run engines here).
    Never constructs a TensorRT object."""
    problems = []
    version = None
    try:
        version = trt_compat.installed_version()
    except ImportError as exc:
        problems.append(str(exc))
    try:
        cm.import_cudart()
    except ImportError as exc:
        problems.append(str(exc))
    else:
        status = cm.gpu_status()
        if status.devices == 0:
            problems.append("no CUDA GPU is usable ({})".format(status.reason))
    return version, problems


def dims(shape: "trt.Dims") -> Tuple[int, ...]:
    """TensorRT Dims -> a tuple of ints (Dims has len and indexing, and no
    iteration in the stubs' view)."""
    return tuple(int(shape[i]) for i in range(len(shape)))


class _DeviceRows:
    """An address inside one of the backend's device buffers: what
    DeviceArray needs (a ``ptr``), plus which run_frame call wrote it. The
    buffers are freed explicitly when they grow or the backend closes, so
    holding one does not keep its memory valid: the generation does that."""

    def __init__(self, ptr: int, owner: Any, generation: int) -> None:
        self.ptr = ptr
        self.owner = owner
        self.generation = generation


class _PyramidLevel(DeviceArray):
    """A pyramid level left on the device by :meth:`TensorRTBackend.run_frame`.
    Valid until the next ``run_frame`` of the same backend overwrites it."""

    def __init__(self, shape: Tuple[int, ...], dtype: Any, rows: _DeviceRows, backend_id: int) -> None:
        DeviceArray.__init__(self, shape, dtype, rows)
        self.generation = rows.generation
        self.backend_id = backend_id


class _TensorInfo:
    def __init__(self, name: str, dtype: np.dtype, row_shape: Tuple[int, ...], is_input: bool) -> None:
        self.name = name
        self.dtype = dtype
        self.row_shape = row_shape  # the shape of one batch row (everything after the batch axis)
        self.row_nbytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
        self.is_input = is_input


class _Engine:
    """One deserialized engine, its execution context and device buffers for
    all its tensors, grown on demand. Batches larger than the profile's
    maximum run as several enqueues over consecutive rows of the same buffers."""

    def __init__(self, runtime: "trt.Runtime", path: str, input_name: str, max_rows: int, rebuild: str) -> None:
        import tensorrt as trt

        log, mark = trt_compat.errors(), trt_compat.errors().mark()
        self.path = path
        with open(path, "rb") as f:
            data = f.read()
        engine = runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise ModelError("{}: TensorRT cannot deserialize this engine ({}); rebuild it with: {}".format(
                path, log.summary(mark), rebuild))
        self.engine = engine  # type: Optional[trt.ICudaEngine]
        context = engine.create_execution_context()
        if context is None:
            raise ModelError("{}: TensorRT cannot create an execution context ({}); is the GPU out of "
                             "memory?".format(path, log.summary(mark)))
        self.context = context  # type: Optional[trt.IExecutionContext]
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if inputs != [input_name]:
            raise ModelError("{}: the engine must have the one input '{}', it has {}".format(path, input_name, inputs))
        self.input_name = input_name
        self.max_rows = int(max_rows)
        # Output shapes for one input row tell every tensor's row shape.
        input_rows = list(dims(engine.get_tensor_shape(input_name))[1:])
        if any(d < 1 for d in input_rows):
            raise ModelError("{}: input '{}' has dynamic dimensions besides the batch axis: {}".format(
                path, input_name, dims(engine.get_tensor_shape(input_name))))
        if not context.set_input_shape(input_name, tuple([1] + input_rows)):
            raise ModelError("{}: the engine refuses a batch of 1 ({})".format(path, log.summary(mark)))
        self.tensors = {}  # type: Dict[str, _TensorInfo]
        for name in names:
            shape = dims(context.get_tensor_shape(name))
            if len(shape) < 1 or shape[0] != 1 or any(d < 0 for d in shape):
                raise ModelError("{}: tensor '{}' has shape {} for a batch of 1; every tensor must have "
                                 "the batch axis first".format(path, name, shape))
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))  # type: ignore[no-untyped-call]  # untyped in the stubs
            self.tensors[name] = _TensorInfo(name, dtype, shape[1:], name == input_name)
        self.capacity = 0
        self.buffers = {}  # type: Dict[str, cm.DeviceBuffer]
        self._staging = {}  # type: Dict[str, cm.DeviceBuffer]  # aligned scratch for misaligned chunks (chunks.py)
        self._bound = None  # type: Optional[Tuple[int, int, int]]

    def reserve(self, rows: int) -> None:
        """Device buffers for at least ``rows`` rows of every tensor (grown by
        doubling so that a slowly rising K does not reallocate every frame)."""
        if rows <= self.capacity:
            return
        capacity = max(rows, 2 * self.capacity)
        self._free()
        for name, info in self.tensors.items():
            self.buffers[name] = cm.DeviceBuffer(capacity * info.row_nbytes)
        self.capacity = capacity
        self._bound = None

    def ptr(self, name: str, row: int = 0) -> int:
        return self.buffers[name].ptr + row * self.tensors[name].row_nbytes

    def enqueue(self, rows: int, stream: cm.Stream) -> None:
        """Runs the engine on rows [0, rows) of the buffers, in chunks of at
        most the profile's maximum, asynchronously on ``stream``; a tensor
        whose chunk would start at an address TensorRT refuses goes through
        an aligned scratch buffer (fassst_rt/tensorrt/chunks.py)."""
        context = self.context
        if context is None:
            raise RuntimeError("{}: the backend is closed".format(self.path))
        row_nbytes = {name: info.row_nbytes for name, info in self.tensors.items()}
        for chunk in plan_chunks(rows, self.max_rows, row_nbytes):
            start, count = chunk.start, chunk.rows
            for name in chunk.staged:
                if name not in self._staging:
                    self._staging[name] = cm.DeviceBuffer(self.max_rows * row_nbytes[name])
                if self.tensors[name].is_input:
                    cm.copy_on_device(self._staging[name].ptr, self.ptr(name, start), count * row_nbytes[name],
                                      stream)
            # TensorRT's advice: touch shapes and addresses only when they change.
            if self._bound != (start, count, self.capacity):
                shape = (count,) + self.tensors[self.input_name].row_shape
                if not context.set_input_shape(self.input_name, shape):
                    raise ModelError("{}: the engine refuses input shape {} (profile max batch {})".format(
                        self.path, shape, self.max_rows))
                for name in self.tensors:
                    address = self._staging[name].ptr if name in chunk.staged else self.ptr(name, start)
                    if not context.set_tensor_address(name, address):
                        raise RuntimeError("{}: set_tensor_address('{}') failed".format(self.path, name))
                self._bound = (start, count, self.capacity)
            if not context.execute_async_v3(stream.handle):
                raise RuntimeError("{}: execute_async_v3 failed for {} rows".format(self.path, count))
            for name in chunk.staged:
                if not self.tensors[name].is_input:
                    cm.copy_on_device(self.ptr(name, start), self._staging[name].ptr, count * row_nbytes[name],
                                      stream)

    def _free(self) -> None:
        for buffer in list(self.buffers.values()) + list(self._staging.values()):
            buffer.close()
        self.buffers = {}
        self._staging = {}
        self.capacity = 0

    def close(self) -> None:
        # TensorRT objects go in dependency order: context before engine.
        self.context = None
        self.engine = None
        self._free()


class _PinnedPool:
    """Pinned host buffers by role, grown on demand; views are handed out
    per call and copied before they leave the backend."""

    def __init__(self) -> None:
        self._buffers = {}  # type: Dict[str, cm.PinnedBuffer]

    def view(self, role: str, shape: Tuple[int, ...], dtype: Any) -> np.ndarray:
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        buffer = self._buffers.get(role)
        if buffer is None or buffer.nbytes < nbytes:
            if buffer is not None:
                buffer.close()
            buffer = cm.PinnedBuffer(max(nbytes, 2 * (buffer.nbytes if buffer else 0)))
            self._buffers[role] = buffer
        return buffer.array(shape, dtype)

    def close(self) -> None:
        for buffer in self._buffers.values():
            buffer.close()
        self._buffers = {}


class TensorRTBackend(Backend):
    """Runs ``NAME.plan`` + ``NAME.tail.plan`` with TensorRT on a CUDA GPU.

    Args:
        path: the frame engine ``NAME.plan``; ``NAME.tail.plan`` and
            ``NAME.plan.json`` must sit beside it.
        device: "auto" / "cuda" (device 0), "cuda:N" or N.
        num_threads: accepted for the Segmenter's sake and ignored (the
            engines run on the GPU).
        fuse_on_device: None (on the GPU when fassst_rt has its CUDA kernels),
            True (require it), False (fuse on the CPU: the pyramid is copied
            to the host).

    Pyramid levels returned by :meth:`run_frame` are device arrays
    (``__cuda_array_interface__``) valid until the next ``run_frame``.
    Not thread-safe: the Segmenter serialises calls.
    """

    name = "tensorrt"

    def __init__(self, path: str, device: Any = "auto", num_threads: Optional[int] = None,
                 fuse_on_device: Optional[bool] = None) -> None:
        self.path = os.fspath(path)
        try:
            paths = plan_paths(self.path)
        except ValueError as exc:
            raise ModelError(str(exc)) from None
        self.tail_path, self.sidecar_path = paths.tail, paths.sidecar
        for p, what in ((self.path, "frame engine"), (self.tail_path, "tail engine")):
            if not os.path.isfile(p):
                raise FileNotFoundError("{}: the model's {} does not exist".format(p, what))
        self.plan = read_sidecar(self.path)
        self.metadata = self.plan.metadata
        self.device_index = parse_device(device)
        self._frame = None  # type: Optional[_Engine]
        self._tail = None  # type: Optional[_Engine]
        self._runtime = None  # type: Optional[trt.Runtime]
        self._stream = None  # type: Optional[cm.Stream]
        self._pinned = _PinnedPool()
        self._rois = None  # type: Optional[cm.DeviceBuffer]
        self._generation = 0
        self._pyramid_rows = 0

        version, problems = runtime_problems()
        if problems or version is None:
            raise TensorRTUnavailableError(
                "{}: cannot run TensorRT engines on this machine: {}. Without an NVIDIA GPU and TensorRT, "
                "run the ONNX model with ONNX Runtime instead: Segmenter({!r})".format(
                    self.path, "; ".join(problems), onnx_path_of(self.plan)))
        cm.set_device(self.device_index)
        gpu = cm.device_info(self.device_index)
        self.gpu = gpu
        mismatch = compatibility_problems(self.plan, version, gpu.compute_capability)
        if mismatch:
            raise ModelError("{}: these engines must be rebuilt for this machine: {}. Rebuild them here "
                             "with: {}".format(self.path, "; ".join(mismatch),
                                               rebuild_command(self.plan, self.path)))
        try:
            self._open(gpu, fuse_on_device)
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- setup

    def _open(self, gpu: cm.DeviceInfo, fuse_on_device: Optional[bool]) -> None:
        import tensorrt as trt

        # TensorRT keeps one logger per process: always the same one (compat.process_logger)
        self._runtime = trt.Runtime(trt_compat.process_logger())
        self._stream = cm.Stream()
        rebuild = rebuild_command(self.plan, self.path)
        self._frame = _Engine(self._runtime, self.path, FRAME_INPUT, self.plan.frame.max[0], rebuild)
        self._tail = _Engine(self._runtime, self.tail_path, TAIL_INPUT, self.plan.tail.max[0], rebuild)
        self._check_io()
        self.fuse_location, why = self._choose_fuse(fuse_on_device)
        if fuse_on_device and self.fuse_location != "device":
            raise ModelError("{}: fuse_on_device=True, but {}".format(self.path, why))

    def _check_io(self) -> None:
        m = self.metadata
        assert self._frame is not None and self._tail is not None
        frame, tail = self._frame.tensors, self._tail.tensors
        missing = [n for n in FRAME_OUTPUTS if n not in frame]
        if missing:
            raise ModelError("{}: the frame engine lacks outputs {} (has {})".format(self.path, missing, list(frame)))
        expected = {
            FRAME_INPUT: (3, m.input_size, m.input_size), "boxes": (m.num_cells, 4),
            "scores": (m.num_cells, m.num_classes)}
        for name, want in expected.items():
            if frame[name].row_shape != want:
                raise ModelError("{}: tensor '{}' has shape (B, {}), the metadata ({}) says (B, {})".format(
                    self.path, name, ", ".join(map(str, frame[name].row_shape)), self.sidecar_path,
                    ", ".join(map(str, want))))
        for level in PYRAMID_OUTPUTS:
            if len(frame[level].row_shape) != 3 or frame[level].row_shape[0] != m.mask_channels:
                raise ModelError("{}: {} has shape (B, {}), the metadata says {} channels".format(
                    self.path, level, ", ".join(map(str, frame[level].row_shape)), m.mask_channels))
        want_in, want_out = (m.mask_channels, m.roi_size, m.roi_size), (1, 2 * m.roi_size, 2 * m.roi_size)
        if TAIL_OUTPUT not in tail or tail[TAIL_INPUT].row_shape != want_in or tail[TAIL_OUTPUT].row_shape != want_out:
            raise ModelError("{}: the tail engine must map '{}' (K, {}) to '{}' (K, {}), it has {}".format(
                self.tail_path, TAIL_INPUT, ", ".join(map(str, want_in)), TAIL_OUTPUT,
                ", ".join(map(str, want_out)),
                {n: t.row_shape for n, t in tail.items()}))

    def _choose_fuse(self, requested: Optional[bool]) -> Tuple[str, str]:
        if requested is False:
            return "host", "fuse_on_device=False"
        assert self._frame is not None and self._tail is not None
        info = ops.build_info()
        if not info["cuda_built"]:
            return "host", "fassst_rt was built without its CUDA kernels"
        if not info["gpu_available"]:
            return "host", "the fassst_rt CUDA kernels see no GPU: {}".format(info["gpu_error"])
        dtypes = {self._frame.tensors[n].dtype for n in PYRAMID_OUTPUTS}
        tail_dtype = self._tail.tensors[TAIL_INPUT].dtype
        if len(dtypes) != 1 or tail_dtype not in dtypes or tail_dtype not in (np.float32, np.float16):
            return "host", "the engines' pyramid dtypes {} and tail input dtype {} differ".format(
                sorted(str(d) for d in dtypes), tail_dtype)
        return "device", ""

    # ------------------------------------------------------------------ run

    def _live(self) -> Tuple[_Engine, _Engine, cm.Stream]:
        if self._frame is None or self._tail is None or self._stream is None:
            raise RuntimeError("{}: the TensorRT backend is closed".format(self.path))
        # The calling thread may not have used this device yet (a Segmenter
        # can be shared between threads); making it current is cheap.
        cm.set_device(self.device_index)
        return self._frame, self._tail, self._stream

    def run_frame(self, images: np.ndarray) -> FrameOutputs:
        frame, _, stream = self._live()
        m = self.metadata
        images = np.asarray(images)
        want = (3, m.input_size, m.input_size)
        if images.ndim != 4 or images.shape[1:] != want or images.shape[0] < 1:
            raise ValueError("images must have shape (B, {}, {}, {}), got {}".format(*want, images.shape))
        batch = images.shape[0]
        frame.reserve(batch)
        info = frame.tensors
        host_in = self._pinned.view(FRAME_INPUT, images.shape, info[FRAME_INPUT].dtype)
        host_in[...] = images  # casts to the engine's input dtype
        cm.copy_to_device(frame.ptr(FRAME_INPUT), host_in, stream)
        frame.enqueue(batch, stream)
        host_out = {}  # type: Dict[str, np.ndarray]
        copied = ("boxes", "scores") if self.fuse_location == "device" else FRAME_OUTPUTS
        for name in copied:
            host_out[name] = self._pinned.view(name, (batch,) + info[name].row_shape, info[name].dtype)
            cm.copy_to_host(host_out[name], frame.ptr(name), stream)
        stream.synchronize()
        self._generation += 1
        self._pyramid_rows = batch
        # Copies: the pinned buffers are reused by the next call.
        boxes = host_out["boxes"].astype(np.float32)
        scores = host_out["scores"].astype(np.float32)
        if self.fuse_location == "device":
            levels = [_PyramidLevel((batch,) + info[n].row_shape, info[n].dtype,
                                    _DeviceRows(frame.ptr(n), frame.buffers[n], self._generation), id(self))
                      for n in PYRAMID_OUTPUTS]  # type: List[Any]
        else:
            levels = [host_out[n].astype(np.float32) for n in PYRAMID_OUTPUTS]
        return FrameOutputs(boxes, scores, levels[0], levels[1], levels[2])

    def run_tail(self, rois: np.ndarray) -> np.ndarray:
        _, tail, stream = self._live()
        info = tail.tensors
        rois = np.asarray(rois)
        if rois.ndim != 4 or rois.shape[1:] != info[TAIL_INPUT].row_shape:
            raise ValueError("rois must have shape (K, {}), got {}".format(
                ", ".join(map(str, info[TAIL_INPUT].row_shape)), rois.shape))
        k = rois.shape[0]
        if k == 0:
            return np.zeros((0,) + info[TAIL_OUTPUT].row_shape, np.float32)
        tail.reserve(k)
        host_in = self._pinned.view(TAIL_INPUT, rois.shape, info[TAIL_INPUT].dtype)
        host_in[...] = rois
        cm.copy_to_device(tail.ptr(TAIL_INPUT), host_in, stream)
        return self._tail_and_fetch(tail, stream, k)

    def fuse_and_tail(self, frame: FrameOutputs, rois: np.ndarray) -> np.ndarray:
        p1 = frame.p1
        if not (isinstance(p1, _PyramidLevel) and p1.backend_id == id(self)):
            return Backend.fuse_and_tail(self, frame, rois)  # host pyramid (or someone else's arrays)
        if p1.generation != self._generation:
            raise ValueError("the pyramid device arrays came from an earlier run_frame call and have been "
                             "overwritten since; call fuse_and_tail before the next run_frame")
        _, tail, stream = self._live()
        m = self.metadata
        rois = np.ascontiguousarray(rois, dtype=np.float32)
        if rois.ndim != 2 or rois.shape[1] != 5:
            raise ValueError("rois must have shape (K, 5) rows [batch_index, x1, y1, x2, y2], got {}".format(
                rois.shape))
        k = rois.shape[0]
        if k == 0:
            return np.zeros((0,) + tail.tensors[TAIL_OUTPUT].row_shape, np.float32)
        tail.reserve(k)
        if self._rois is None or self._rois.nbytes < rois.nbytes:
            if self._rois is not None:
                self._rois.close()
            self._rois = cm.DeviceBuffer(max(rois.nbytes, 2 * (self._rois.nbytes if self._rois else 0)))
        host_rois = self._pinned.view("roi_boxes", rois.shape, np.float32)
        host_rois[...] = rois
        cm.copy_to_device(self._rois.ptr, host_rois, stream)
        rois_dev = DeviceArray(rois.shape, np.float32, _DeviceRows(self._rois.ptr, self._rois, self._generation))
        info = tail.tensors[TAIL_INPUT]
        fused = DeviceArray((k,) + info.row_shape, info.dtype,
                            _DeviceRows(tail.ptr(TAIL_INPUT), tail.buffers[TAIL_INPUT], self._generation))
        # The kernel writes straight into the tail engine's input buffer, on
        # the same stream (validate: it checks the boxes' batch indices first).
        if m.rff:
            ops.roi_fuse(frame.p1, frame.p2, frame.p3, rois_dev, m.roi_size, tuple(m.strides),
                         out=fused, stream=stream.handle, validate=True)
        else:
            ops.roi_crop(frame.p1, rois_dev, m.roi_size, m.strides[0], out=fused, stream=stream.handle,
                         validate=True)
        return self._tail_and_fetch(tail, stream, k)

    def _tail_and_fetch(self, tail: _Engine, stream: cm.Stream, k: int) -> np.ndarray:
        tail.enqueue(k, stream)
        info = tail.tensors[TAIL_OUTPUT]
        host_out = self._pinned.view(TAIL_OUTPUT, (k,) + info.row_shape, info.dtype)
        cm.copy_to_host(host_out, tail.ptr(TAIL_OUTPUT), stream)
        stream.synchronize()
        return host_out.astype(np.float32)

    # ---------------------------------------------------------------- close

    def close(self) -> None:
        stream = self._stream
        if stream is not None:
            try:
                stream.synchronize()  # nothing may still write into buffers being freed
            except cm.CudaError:
                pass  # a failed stream cannot be waited for; free anyway
        for engine in (self._frame, self._tail):
            if engine is not None:
                engine.close()
        self._frame = self._tail = None
        self._runtime = None  # after its engines (TensorRT's destruction order)
        if self._rois is not None:
            self._rois.close()
            self._rois = None
        self._pinned.close()
        if stream is not None:
            stream.close()
            self._stream = None
