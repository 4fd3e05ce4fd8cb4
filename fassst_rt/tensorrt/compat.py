"""The few places where TensorRT 8.5, 8.6, 10.x and 11.x differ, in one module.

Everything else in the TensorRT backend and in ``fassst-rt build`` uses calls
that exist unchanged from 8.5 to 11.x: the name-based tensor API
(``num_io_tensors``, ``get_tensor_name``, ``get_tensor_mode``,
``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``) and
``build_serialized_network``, ``set_memory_pool_limit``, optimization
profiles and timing caches.

| what                     | 8.5 / 8.6                 | 10.x                  | 11.x                    |
|--------------------------|---------------------------|-----------------------|-------------------------|
| network creation flags   | EXPLICIT_BATCH required   | ignored (deprecated); STRONGLY_TYPED optional | always strongly typed |
| workspace limit          | ``set_memory_pool_limit`` (``max_workspace_size`` deprecated since 8.4, removed in 10) | same | same |
| FP16                     | ``BuilderFlag.FP16``      | ``BuilderFlag.FP16`` (deprecated) | removed: FP16 types in the ONNX graph |
| INT8 (Q/DQ graphs)       | ``BuilderFlag.INT8``      | ``BuilderFlag.INT8`` (deprecated) | removed: the Q/DQ types alone |
| TF32 for FP32 layers     | on by default on Ampere+; ``BuilderFlag.TF32`` | same | same |
| build progress callbacks | none                      | ``IProgressMonitor``  | ``IProgressMonitor``    |

:func:`build_settings` turns (TensorRT version, precision, GPU) into what
the build does; it is pure Python and tested without TensorRT.

TensorRT is imported inside the functions, never at module level: this module
imports (and its pure functions run) on machines without TensorRT, while
mypy still checks every call against the ``tensorrt-stubs`` package.
"""

import re
import threading
import time
from typing import TYPE_CHECKING, Callable, Dict, List, NamedTuple, Optional, Tuple

if TYPE_CHECKING:
    import tensorrt as trt

MIN_VERSION = (8, 5)  # the name-based tensor API appeared in 8.5

TENSORRT_INSTALL_HINT = (
    "install TensorRT's Python package on this machine: on Jetson it ships with JetPack "
    "(apt install python3-libnvinfer), elsewhere `pip install tensorrt` (NVIDIA's wheels)")


def parse_version(text: str) -> Tuple[int, ...]:
    """'8.5.2.2' -> (8, 5, 2, 2); '10.13.0.35.post1' -> (10, 13, 0, 35)."""
    parts = []  # type: List[int]
    for piece in str(text).split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group(0)))
        if match.group(0) != piece:  # '35post1': what follows is not a version number
            break
    if not parts:
        raise ValueError("not a TensorRT version: {!r}".format(text))
    return tuple(parts)


def installed_version() -> str:
    """The version of the importable tensorrt; raises ImportError saying what
    to install, or that it is older than 8.5."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise ImportError("the tensorrt Python package is not installed ({}); {}".format(
            exc, TENSORRT_INSTALL_HINT)) from None
    if getattr(trt, "__version__", None) is None:
        # tensorrt-stubs installs a 'tensorrt' folder of .pyi files only, which
        # Python then imports as an empty namespace package.
        raise ImportError("only type stubs for tensorrt are installed (tensorrt-stubs), not TensorRT "
                          "itself; {}".format(TENSORRT_INSTALL_HINT))
    version = str(trt.__version__)
    if parse_version(version)[:2] < MIN_VERSION:
        raise ImportError("TensorRT {} is too old: fassst_rt needs {}.{} or newer (the name-based "
                          "tensor API)".format(version, MIN_VERSION[0], MIN_VERSION[1]))
    return version


def _major() -> int:
    import tensorrt as trt
    return parse_version(trt.__version__)[0]


# ----------------------------------------------------------------- building

class BuildSettings(NamedTuple):
    """What ``fassst-rt build`` does for one precision on one TensorRT."""

    strongly_typed: bool          # create the network with STRONGLY_TYPED (10.x) / as 11.x always does
    set_flags: Tuple[str, ...]    # BuilderFlag names to set
    clear_flags: Tuple[str, ...]  # BuilderFlag names to clear
    fp16_graph: bool              # build from an FP16-typed copy of the ONNX graphs (fassst_rt/tensorrt/fp16_graph.py)
    note: str                     # one line for the build log


def has_int8(compute_capability: Tuple[int, int]) -> bool:
    """Whether a GPU has 8-bit integer dot products (DP4A / tensor cores),
    which TensorRT's INT8 kernels need: compute capability 6.1 (GTX 10xx)
    and 7.0 on (Xavier 7.2, Orin 8.7); not 5.x, 6.0 (P100) nor 6.2 (TX2)."""
    cc = tuple(compute_capability)
    return cc == (6, 1) or cc >= (7, 0)


def build_settings(tensorrt_version: str, precision: str, fast_fp16: bool) -> BuildSettings:
    """The builder settings for ``precision`` ("fp32", "fp16", "int8") on
    TensorRT ``tensorrt_version``. ``fast_fp16``: the GPU runs FP16 at least
    as fast as FP32 (INT8 engines then run their float layers in FP16 where
    the builder may choose).

    - fp32: TF32 cleared, so that FP32 layers compute in FP32 on Ampere and
      newer (Orin, RTX 30/40, A100, H100), where TensorRT enables TF32 by default.
    - fp16: ``BuilderFlag.FP16`` up to 10.x; on 11.x, which has no precision
      flags, a strongly typed network from an FP16-typed copy of the graphs.
    - int8: explicit quantization from a Q/DQ graph (``fassst-rt quantize
      --target tensorrt``): ``BuilderFlag.INT8`` (and FP16 on fast-FP16 GPUs)
      up to 10.x; on 11.x the Q/DQ types alone (float layers in FP32: the
      graph's Q/DQ operators are opset 17, which has no FP16 Q/DQ).
    """
    major = parse_version(tensorrt_version)[0]
    if precision == "fp32":
        return BuildSettings(major >= 11, (), ("TF32",), False, "FP32 layers in FP32 (TF32 off)")
    if precision == "fp16":
        if major >= 11:
            return BuildSettings(True, (), (), True,
                                 "FP16 from an FP16-typed copy of the graphs (TensorRT 11 networks are strongly typed)")
        return BuildSettings(False, ("FP16",), (), False, "FP16 builder flag")
    if precision == "int8":
        if major >= 11:
            return BuildSettings(True, (), (), False,
                                 "INT8 from the graph's Q/DQ operators; float layers in FP32 (strongly typed)")
        flags = ("INT8", "FP16") if fast_fp16 else ("INT8",)
        return BuildSettings(False, flags, (), False,
                             "INT8 from the graph's Q/DQ operators; float layers in {}".format(
                                 "FP16 or FP32" if fast_fp16 else "FP32"))
    raise ValueError("precision must be 'fp32', 'fp16' or 'int8', got {!r}".format(precision))


def network_flags(strongly_typed: bool = False) -> int:
    """Flags for ``Builder.create_network``: 8.x still has implicit-batch
    networks and needs EXPLICIT_BATCH for ONNX models; 10.x ignores that flag
    (deprecated) and has STRONGLY_TYPED; 11.x networks are always strongly
    typed (its STRONGLY_TYPED is deprecated and ignored), so nothing is passed."""
    import tensorrt as trt
    major = _major()
    if major >= 11:
        return 0
    if major >= 10:
        # getattr: STRONGLY_TYPED is absent from 8.x, and mypy sees 10.13's enum
        return (1 << int(getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"))) if strongly_typed else 0
    if strongly_typed:
        raise ValueError("TensorRT {} has no strongly typed networks (10.0 on)".format(trt.__version__))
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def set_workspace(config: "trt.IBuilderConfig", nbytes: int) -> None:
    # set_memory_pool_limit exists from 8.4 on; max_workspace_size, its
    # predecessor, is deprecated in 8.x and gone in 10.0: only the new call is used.
    import tensorrt as trt
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(nbytes))


def apply_settings(config: "trt.IBuilderConfig", settings: BuildSettings) -> None:
    """Sets and clears the builder flags ``settings`` names (by name: FP16
    and INT8 exist up to 10.x only, and :func:`build_settings` never names
    them for 11.x)."""
    import tensorrt as trt
    for name in settings.set_flags:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is None:
            raise ValueError("TensorRT {} has no BuilderFlag.{}".format(trt.__version__, name))
        config.set_flag(flag)
    for name in settings.clear_flags:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is not None:
            config.clear_flag(flag)


def attach_progress(config: "trt.IBuilderConfig", report: Callable[[str], None]) -> Optional[object]:
    """Reports the builder's top-level phases through ``report`` where
    TensorRT has IProgressMonitor (10.0 on) and returns the monitor, which the
    caller keeps alive until the build is over (TensorRT holds only a C++
    pointer to it). Returns None on 8.x, where a build reports nothing."""
    import tensorrt as trt
    if not hasattr(trt, "IProgressMonitor"):
        return None

    class _Monitor(trt.IProgressMonitor):
        # Top-level phases only, at most one line a second: the nested tactic
        # phases would flood a terminal.
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._last = 0.0

        def phase_start(self, phase_name: str, parent_phase: Optional[str], num_steps: int) -> None:
            now = time.monotonic()
            if parent_phase is None and now - self._last >= 1.0:
                self._last = now
                report("  {} ({} steps)".format(phase_name, num_steps))

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # never cancel

        def phase_finish(self, phase_name: str) -> None:
            pass

    monitor = _Monitor()
    config.progress_monitor = monitor
    return monitor


# ------------------------------------------------------------------ logging
#
# TensorRT keeps one logger per process: the first one given to a Builder or
# Runtime is the one it calls from then on, also for objects made later with
# another logger, and it may call it after those objects are gone. So there is
# exactly one, made on first use and never freed, and it files each message
# under the thread that logged it: a backend or a build reads the errors its
# own calls caused (TensorRT logs on the calling thread).

class ErrorLog:
    """Error messages TensorRT logged, per thread, bounded. A caller takes
    a :meth:`mark` before a TensorRT call and reads :meth:`since` it after:
    deserialize_cuda_engine and build_serialized_network return None on
    failure, the cause is in the log."""

    LIMIT = 200  # messages kept per thread

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_thread = {}  # type: Dict[int, List[str]]
        self._count = {}  # type: Dict[int, int]

    def add(self, message: str, thread: Optional[int] = None) -> None:
        key = threading.get_ident() if thread is None else thread
        with self._lock:
            messages = self._by_thread.setdefault(key, [])
            messages.append(message)
            del messages[:-self.LIMIT]
            self._count[key] = self._count.get(key, 0) + 1

    def mark(self) -> int:
        """How many messages this thread has logged so far."""
        with self._lock:
            return int(self._count.get(threading.get_ident(), 0))

    def since(self, mark: int) -> List[str]:
        """This thread's messages logged after ``mark`` (the most recent
        LIMIT of them)."""
        key = threading.get_ident()
        with self._lock:
            new = self._count.get(key, 0) - mark
            messages = self._by_thread.get(key, [])
            return list(messages[len(messages) - min(new, len(messages)):]) if new > 0 else []

    def summary(self, mark: int, limit: int = 3) -> str:
        errors = [e.strip() for e in self.since(mark)[-limit:]]
        return " | ".join(errors) if errors else "TensorRT logged no error message"


_ERRORS = ErrorLog()
_ECHO = {}  # type: Dict[int, Callable[[str], None]]  # thread id -> where that thread's warnings and errors also go (a build's report)
_LOGGER = None  # type: Optional[trt.ILogger]
_LOGGER_LOCK = threading.Lock()


def errors() -> ErrorLog:
    """The process's record of TensorRT's error messages."""
    return _ERRORS


class echo_to:
    """While in this block, TensorRT's warnings and errors logged by this
    thread also go to ``report`` (the build command prints them)."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report

    def __enter__(self) -> "echo_to":
        _ECHO[threading.get_ident()] = self.report
        return self

    def __exit__(self, *exc: object) -> None:
        _ECHO.pop(threading.get_ident(), None)


def process_logger() -> "trt.ILogger":
    """The one TensorRT logger of this process (see above)."""
    global _LOGGER
    with _LOGGER_LOCK:
        if _LOGGER is None:
            _LOGGER = _make_logger()
        return _LOGGER


def _make_logger() -> "trt.ILogger":
    import tensorrt as trt

    severe = (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR)

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: "trt.ILogger.Severity", msg: str) -> None:
            if severity in severe:
                _ERRORS.add(msg)
            echo = _ECHO.get(threading.get_ident())
            if echo is not None and (severity in severe or severity == trt.ILogger.Severity.WARNING):
                echo("  TensorRT: " + msg)

    return _Logger()
