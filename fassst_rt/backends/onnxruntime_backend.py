"""ONNX Runtime backend: ``NAME.onnx`` (frame graph, carrying the metadata) and
``NAME.tail.onnx`` (tail graph), found beside each other."""

import os
from typing import List, Optional, Sequence

import numpy as np

from .. import _C
from ..hashing import sha256_file
from ..metadata import MetadataError, ModelMetadata
from ..model_files import FRAME_INPUT, FRAME_OUTPUTS, METADATA_KEY, TAIL_INPUT, TAIL_OUTPUT
from ..model_files import tail_onnx_path as tail_path_for
from .base import Backend, FrameOutputs, ModelError


def _import_ort():
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("the ONNX Runtime backend needs onnxruntime: pip install 'fassst_rt[cpu]' "
                         "(or [gpu] for onnxruntime-gpu; never both)") from None
    return onnxruntime


class OnnxRuntimeBackend(Backend):
    """Runs the frame and tail graphs with ONNX Runtime.

    Args:
        path: the frame graph ``NAME.onnx``; ``NAME.tail.onnx`` must sit beside it.
        device: "auto" (CUDA when onnxruntime-gpu sees a GPU, else CPU), "cpu" or "cuda".
        providers: an explicit ONNX Runtime provider list (overrides ``device``).
        num_threads: intra-op threads (None: ONNX Runtime's default, all cores).
        spinning: let ONNX Runtime's idle intra-op threads spin-wait for work
            (its own default). Off here: between the two graphs our RFF kernel
            and selection run on the same cores, and spinning threads steal
            them; on a loaded 2-core machine a whole frame was measured several
            times slower with spinning on (benchmarks/README.md). Pass True on
            a dedicated device if a measurement says it helps there.
    """

    name = "onnxruntime"
    overlaps_graphs = True  # NumPy outputs; ONNX Runtime sessions may run concurrently

    def __init__(self, path: str, device: str = "auto", providers: Optional[Sequence] = None,
                 num_threads: Optional[int] = None, spinning: bool = False) -> None:
        ort = _import_ort()
        self.path = os.fspath(path)
        if self.path.endswith(".portable.onnx"):
            raise ModelError("{}: a portable single-graph export runs in ONNX Runtime (or another "
                             "runtime) directly, not in a Segmenter: see docs/portable.md; give the "
                             "Segmenter the two-graph NAME.onnx".format(self.path))
        self.tail_path = tail_path_for(self.path)
        for p, what in ((self.path, "frame graph"), (self.tail_path, "tail graph")):
            if not os.path.isfile(p):
                raise FileNotFoundError("{}: the model's {} does not exist".format(p, what))
        self.providers = self._providers(ort, device, providers)
        options = ort.SessionOptions()
        if num_threads is not None:
            # the core's bound (csrc/parallel/thread_pool.h), before ONNX Runtime starts that many threads
            if isinstance(num_threads, bool) or not 1 <= num_threads <= _C.max_num_threads:
                raise ValueError("num_threads must be in [1, {}] or None, got {!r}".format(
                    _C.max_num_threads, num_threads))
            options.intra_op_num_threads = int(num_threads)
            options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.frame_session = self._session(ort, self.path, options)
        self.metadata = self._read_metadata(self.frame_session)
        actual = sha256_file(self.tail_path)
        if self.metadata.tail_sha256 and actual != self.metadata.tail_sha256:
            raise ModelError("{}: does not belong to {}: its sha256 is {} but the frame graph's "
                             "metadata names {}; export the two files together".format(
                                 self.tail_path, self.path, actual, self.metadata.tail_sha256))
        self.tail_session = self._session(ort, self.tail_path, options)
        self._check_io()

    # ---------------------------------------------------------------- setup

    @staticmethod
    def _providers(ort, device: str, providers: Optional[Sequence]) -> List:
        if providers is not None:
            return list(providers)
        available = ort.get_available_providers()
        if device == "cpu":
            return ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in available:
                raise ModelError("device='cuda' but this onnxruntime has no CUDA execution provider "
                                 "(available: {}); install fassst_rt[gpu]".format(", ".join(available)))
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if device == "auto":
            return (["CUDAExecutionProvider", "CPUExecutionProvider"]
                    if "CUDAExecutionProvider" in available else ["CPUExecutionProvider"])
        raise ValueError("device must be 'auto', 'cpu' or 'cuda' for ONNX Runtime, got {!r}".format(device))

    def _session(self, ort, path: str, options):
        try:
            return ort.InferenceSession(path, options, providers=self.providers)
        except Exception as exc:  # ORT raises its own exception types for bad files
            raise ModelError("{}: ONNX Runtime cannot load it ({}: {})".format(
                path, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")) from None

    def _read_metadata(self, session) -> ModelMetadata:
        props = session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise MetadataError("{}: has no '{}' metadata; export models with `fassst-rt export`"
                                .format(self.path, METADATA_KEY))
        return ModelMetadata.from_json(props[METADATA_KEY], source=self.path)

    def _check_io(self) -> None:
        m = self.metadata
        inputs = {i.name: i for i in self.frame_session.get_inputs()}
        outputs = {o.name: o for o in self.frame_session.get_outputs()}
        if FRAME_INPUT not in inputs or any(o not in outputs for o in FRAME_OUTPUTS):
            raise ModelError("{}: the frame graph must have input '{}' and outputs {}, has {} -> {}".format(
                self.path, FRAME_INPUT, list(FRAME_OUTPUTS), list(inputs), list(outputs)))
        n = None if m.grid is not None else m.num_cells   # a stride grid's cells follow the input's shape
        expected = {"boxes": (None, n, 4), "scores": (None, n, m.num_classes)}
        for name, want in expected.items():
            got = outputs[name].shape
            if len(got) != 3 or any(isinstance(g, int) and w is not None and g != w
                                    for g, w in zip(got, want)):
                raise ModelError("{}: output '{}' has shape {}, but the metadata says {}".format(
                    self.path, name, got, ["B" if w is None else w for w in want]))
        channels = outputs["p1"].shape[1]
        if isinstance(channels, int) and channels != m.mask_channels:
            raise ModelError("{}: p1 has {} channels, the metadata says mask_channels = {}".format(
                self.path, channels, m.mask_channels))
        tail_in = self.tail_session.get_inputs()
        tail_out = self.tail_session.get_outputs()
        if [i.name for i in tail_in] != [TAIL_INPUT] or TAIL_OUTPUT not in [o.name for o in tail_out]:
            raise ModelError("{}: the tail graph must map input '{}' to output '{}'".format(
                self.tail_path, TAIL_INPUT, TAIL_OUTPUT))
        shape = tail_in[0].shape
        want = [None, m.mask_channels, m.roi_size, m.roi_size]
        if len(shape) != 4 or any(isinstance(g, int) and w is not None and g != w for g, w in zip(shape, want)):
            raise ModelError("{}: tail input has shape {}, the metadata says (K, {}, {}, {})".format(
                self.tail_path, shape, m.mask_channels, m.roi_size, m.roi_size))

    # ------------------------------------------------------------------ run

    def run_frame(self, images: np.ndarray) -> FrameOutputs:
        outputs = self.frame_session.run(list(FRAME_OUTPUTS), {FRAME_INPUT: images})
        return FrameOutputs(*outputs)

    def run_tail(self, rois: np.ndarray) -> np.ndarray:
        return self.tail_session.run([TAIL_OUTPUT], {TAIL_INPUT: rois})[0]

    def close(self) -> None:
        self.frame_session = None
        self.tail_session = None
