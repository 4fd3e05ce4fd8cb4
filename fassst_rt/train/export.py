"""Exporting a checkpoint (``fassst-rt export``, fassst_rt/cli/export.py): the
frame graph (NAME.onnx, dynamic batch, carrying the metadata) and the tail
graph (NAME.tail.onnx, dynamic K), then a parity check of the exported model
against the PyTorch model on real frames; the export fails if they disagree.

Both graphs are written and checked in a staging folder beside the output and
renamed into place only when the export has succeeded, the tail graph first
and the frame graph (whose metadata vouches for the tail) last
(fassst_rt/atomic.py): a failed export leaves no model files behind, and an
earlier model at the same path stays as it was."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import torch

from ..atomic import atomic_path, staged_files
from ..hashing import sha256_file
from ..metadata import ModelMetadata, make_metadata
from ..model_files import FRAME_INPUT, FRAME_OUTPUTS, MAX_OPSET, METADATA_KEY, TAIL_INPUT, TAIL_OUTPUT, tail_onnx_path
from ..parity import parity_problems
from .checkpoint import model_from_checkpoint
from .network import FASSST, FrameGraph, TailGraph
from .torch_backend import TorchBackend


class ExportError(RuntimeError):
    """The export failed or the exported model disagrees with PyTorch."""


def metadata_for(model: FASSST, uint16: dict | None = None, tile: dict | None = None,
                 score_threshold: float = 0.3, nms_threshold: float = 0.5,
                 max_instances: int | None = None, tail_sha256: str | None = None,
                 **extra: Any) -> ModelMetadata:
    cfg = model.config
    return make_metadata(
        input_size=cfg.input_size, grid_size=cfg.S, mask_channels=cfg.M, roi_size=cfg.S1,
        class_names=cfg.names(), strides=tuple(cfg.strides), mean=cfg.mean, std=cfg.std, uint16=uint16,
        score_threshold=score_threshold, nms_threshold=nms_threshold, rff=cfg.use_rff,
        max_instances=max_instances, tile=tile, tail_sha256=tail_sha256, **extra)


def export_graphs(model: FASSST, frame_path: str, opset: int = MAX_OPSET) -> str:
    """Writes NAME.onnx (input ``images`` (B, 3, in, in), B dynamic; outputs
    boxes, scores, p1, p2, p3) and NAME.tail.onnx (``rois`` (K, M, S1, S1) ->
    ``masks``, K dynamic), tracing the model in eval mode; the model is left in
    the mode it came in. Both files appear together or, on an error, neither
    changes. Returns the tail path."""
    if opset > MAX_OPSET:
        raise ExportError(f"opset {opset} is above {MAX_OPSET}, the newest TensorRT 8.5 parses")
    tail_path = tail_onnx_path(frame_path)
    with staged_files([tail_path, frame_path]) as (staged_tail, staged_frame):
        _trace_graphs(model, staged_frame, staged_tail, opset)
    return tail_path


def _trace_graphs(model: FASSST, frame_path: str, tail_path: str, opset: int) -> None:
    cfg = model.config
    was_training = model.training
    model.eval()
    outputs = list(FRAME_OUTPUTS)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            images = torch.zeros(1, 3, cfg.input_size, cfg.input_size)
            torch.onnx.export(FrameGraph(model), (images,), frame_path, input_names=[FRAME_INPUT],
                              output_names=outputs,
                              dynamic_axes={name: {0: "B"} for name in [FRAME_INPUT, *outputs]},
                              opset_version=opset, dynamo=False, do_constant_folding=True)
            rois = torch.zeros(2, cfg.M, cfg.S1, cfg.S1)
            torch.onnx.export(TailGraph(model), (rois,), tail_path, input_names=[TAIL_INPUT],
                              output_names=[TAIL_OUTPUT], dynamic_axes={TAIL_INPUT: {0: "K"}, TAIL_OUTPUT: {0: "K"}},
                              opset_version=opset, dynamo=False, do_constant_folding=True)
    finally:
        # torch.onnx.export puts the (new, hence training-mode) wrapper module
        # back in its own mode afterwards, and with it the model inside it.
        model.train(was_training)


def attach_metadata(frame_path: str, metadata: ModelMetadata) -> None:
    """Stores the metadata JSON in the frame graph's metadata_props."""
    import onnx

    proto = onnx.load(frame_path)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    onnx.checker.check_model(proto)
    with atomic_path(frame_path) as temporary:
        onnx.save(proto, temporary)


def check_parity(model: FASSST, frame_path: str, frames: Sequence[np.ndarray],
                 score_threshold: float | None = None, tile: Any = False) -> list[str]:
    """Runs the exported model (ONNX Runtime + the RFF kernel) and the PyTorch
    model on ``frames``; returns the parity problems (empty: they agree)."""
    from ..segmenter import Segmenter

    exported = Segmenter(frame_path, device="cpu", score_threshold=score_threshold, tile=tile)
    reference = Segmenter(TorchBackend(model, exported.metadata), score_threshold=score_threshold,
                          tile=tile)
    problems = []
    with exported, reference:
        for i, frame in enumerate(frames):
            a, b = reference.run(frame), exported.run(frame)
            problems += [f"frame {i}: {p}" for p in parity_problems(a, b, exported.score_threshold)]
    return problems


def export_checkpoint(checkpoint: str, output: str, opset: int = MAX_OPSET,
                      check_frames: Sequence[np.ndarray] = (), uint16: dict | None = None,
                      tile: dict | None = None, score_threshold: float = 0.3,
                      nms_threshold: float = 0.5, max_instances: int | None = None,
                      provenance: dict | None = None) -> ModelMetadata:
    """Exports a checkpoint; checks parity on ``check_frames`` (at the given
    threshold and at threshold 0, where every grid cell becomes an instance).
    ``output`` and its tail graph appear only when everything succeeded."""
    if not output.endswith(".onnx"):
        raise ExportError(f"-o must name NAME.onnx, got {output}")
    model, _ = model_from_checkpoint(checkpoint)
    with staged_files([tail_onnx_path(output), output]) as (_, staged):
        tail_path = export_graphs(model, staged, opset)
        metadata = metadata_for(model, uint16=uint16, tile=tile, score_threshold=score_threshold,
                                nms_threshold=nms_threshold, max_instances=max_instances,
                                tail_sha256=sha256_file(tail_path),
                                **({"training": provenance} if provenance else {}))
        attach_metadata(staged, metadata)
        problems = []
        for threshold in (None, 0.0):
            problems += check_parity(model, staged, check_frames, score_threshold=threshold)
        if problems:
            raise ExportError("the exported model disagrees with PyTorch:\n  " + "\n  ".join(problems[:10]))
    return metadata
