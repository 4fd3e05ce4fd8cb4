"""The few places where TensorRT 8.5, 8.6, 10.x and 11.x differ, in one module.

Everything else in the TensorRT backend and in ``fassst-rt build`` uses calls
that exist unchanged from 8.5 to 11.x: the name-based tensor API
(``num_io_tensors``, ``get_tensor_name``, ``get_tensor_mode``,
``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``) and
``build_serialized_network``, ``set_memory_pool_limit``, optimization
profiles and timing caches.

| what                     | 8.5 / 8.6                 | 10.x                  | 11.x                    |
|--------------------------|---------------------------|-----------------------|-------------------------|
| network creation flags   | EXPLICIT_BATCH required   | ignored (deprecated)  | ignored                 |
| workspace limit          | ``set_memory_pool_limit`` (``max_workspace_size`` deprecated since 8.4, removed in 10) | same | same |
| FP16                     | ``BuilderFlag.FP16``      | ``BuilderFlag.FP16``  | removed (strong typing) |
| build progress callbacks | none                      | ``IProgressMonitor``  | ``IProgressMonitor``    |

TensorRT is imported inside the functions, never at module level: this module
imports (and its pure functions run) on machines without TensorRT, while
mypy still checks every call against the ``tensorrt-stubs`` package.
"""

import re
import time
from typing import TYPE_CHECKING, Callable, List, Optional, Tuple

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

def network_flags() -> int:
    """Flags for ``Builder.create_network``: 8.x still has implicit-batch
    networks and needs EXPLICIT_BATCH for ONNX models; 10.x ignores the flag
    (deprecated), so it is passed to 8.x only."""
    import tensorrt as trt
    if _major() >= 10:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def builder_supports_fp16() -> bool:
    """TensorRT 11 removed the precision builder flags (networks are strongly
    typed: an FP16 engine needs FP16 types in the ONNX graph)."""
    import tensorrt as trt
    return hasattr(trt.BuilderFlag, "FP16")


def set_workspace(config: "trt.IBuilderConfig", nbytes: int) -> None:
    # set_memory_pool_limit exists from 8.4 on; max_workspace_size, its
    # predecessor, is deprecated in 8.x and gone in 10.0: only the new call is used.
    import tensorrt as trt
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(nbytes))


def set_precision(config: "trt.IBuilderConfig", precision: str) -> None:
    import tensorrt as trt
    if precision == "fp32":
        return
    if precision != "fp16":
        raise ValueError("precision must be 'fp32' or 'fp16', got {!r}".format(precision))
    if not builder_supports_fp16():
        raise ValueError(
            "TensorRT {} has no FP16 builder flag (removed in 11.x: networks are strongly typed); "
            "build with --fp32, or convert the ONNX graphs to FP16 first (e.g. ModelOpt AutoCast)"
            .format(trt.__version__))
    # getattr: the attribute is absent from 11.x (checked above), present in the 10.13 stubs
    config.set_flag(getattr(trt.BuilderFlag, "FP16"))


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

class LogRecord:
    """Error messages TensorRT logged: deserialize_cuda_engine and
    build_serialized_network return None on failure, the cause is in the log."""

    def __init__(self) -> None:
        self.errors = []  # type: List[str]

    def summary(self, limit: int = 3) -> str:
        errors = [e.strip() for e in self.errors[-limit:]]
        return " | ".join(errors) if errors else "TensorRT logged no error message"


def make_logger(record: LogRecord, echo: Optional[Callable[[str], None]] = None) -> "trt.ILogger":
    """A TensorRT logger that stores errors in ``record`` and passes warnings
    and errors to ``echo`` (the build command prints them)."""
    import tensorrt as trt

    severe = (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR)

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: "trt.ILogger.Severity", msg: str) -> None:
            if severity in severe:
                record.errors.append(msg)
            if echo is not None and (severity in severe or severity == trt.ILogger.Severity.WARNING):
                echo("  TensorRT: " + msg)

    return _Logger()
