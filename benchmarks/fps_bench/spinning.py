"""ONNX Runtime's intra-op spinning, chosen by this benchmark as a diagnostic
(--ort-spinning, --other-spinning, --compare-spinning): idle ONNX Runtime workers
that spin after a run occupy cores that the letterbox, RFF and paste kernels (and,
on a shared machine, other processes) need."""

from typing import Sequence

_ORT_SPINNING = None  # None: the backend's own setting (spinning off, OnnxRuntimeBackend)
_SPIN_KEY = "session.intra_op.allow_spinning"


def _spinning_options(options) -> None:
    if _ORT_SPINNING is None:
        return
    value = "1" if _ORT_SPINNING else "0"
    try:
        if options.get_session_config_entry(_SPIN_KEY) == value:
            return  # the backend shares one options object between its two sessions
    except Exception:  # not set yet
        pass
    options.add_session_config_entry(_SPIN_KEY, value)


def install_spinning_hook() -> None:
    """Lets this script choose ONNX Runtime's intra-op spinning for the sessions the backend
    opens from now on (``_ORT_SPINNING``)."""
    from fassst_rt.backends import onnxruntime_backend

    cls = onnxruntime_backend.OnnxRuntimeBackend
    if getattr(cls._session, "_fps_hook", False):
        return
    original = cls._session

    def _session(self, ort, path, options):
        _spinning_options(options)
        return original(self, ort, path, options)

    _session._fps_hook = True
    cls._session = _session


def set_ort_spinning(mode: str) -> None:
    """"default" (the backend's own setting), "on" or "off" for the sessions opened next."""
    global _ORT_SPINNING
    _ORT_SPINNING = None if mode == "default" else mode == "on"


def ort_session(path: str, threads: int, providers: Sequence[str]):
    """A plain ONNX Runtime session (comparisons) with the threads and spinning of ours."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    _spinning_options(so)
    return ort.InferenceSession(path, so, providers=list(providers))

