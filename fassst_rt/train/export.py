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


# The core's max_instances for a stride-grid model whose metadata names none
# (kStrideGridMaxInstances, csrc/include/fassst/metadata.h).
STRIDE_GRID_MAX_INSTANCES = 2000


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


class StrideGridModel(torch.nn.Module):
    """A model's stride-grid form (fassst_rt/train/stride_grid.py) with the
    model's own forward_tail and forward_masks, for tracing and for the
    PyTorch side of the parity check."""

    def __init__(self, model: FASSST):
        super().__init__()
        from .stride_grid import StrideGridFrame

        self.model = model
        self.frame = StrideGridFrame(model)
        self.config = model.config

    def forward_frame(self, images: torch.Tensor):
        return self.frame(images)

    def forward_tail(self, rois: torch.Tensor) -> torch.Tensor:
        return self.model.forward_tail(rois)

    def forward_masks(self, *args):
        return self.model.forward_masks(*args)


def stride_grid_fields(model: FASSST, input_scale: float) -> dict:
    """The metadata fields of a model's stride-grid form (grid cell and period
    from its input size and S)."""
    from .stride_grid import grid_period

    cfg = model.config
    if cfg.input_size % cfg.S:
        raise ExportError(f"a stride grid needs input_size divisible by S, got {cfg.input_size} and {cfg.S}")
    _, _, period = grid_period(cfg.input_size, cfg.S)
    return {"grid": {"kind": "stride", "cell": cfg.input_size // cfg.S, "period": period},
            "input_scale": float(input_scale)}


def export_graphs(model: FASSST, frame_path: str, opset: int = MAX_OPSET, grid: str = "square") -> str:
    """Writes NAME.onnx (input ``images`` (B, 3, in, in), B dynamic; outputs
    boxes, scores, p1, p2, p3) and NAME.tail.onnx (``rois`` (K, M, S1, S1) ->
    ``masks``, K dynamic), tracing the model in eval mode; the model is left in
    the mode it came in. Both files appear together or, on an error, neither
    changes. Returns the tail path."""
    if opset > MAX_OPSET:
        raise ExportError(f"opset {opset} is above {MAX_OPSET}, the newest TensorRT 8.5 parses")
    tail_path = tail_onnx_path(frame_path)
    with staged_files([tail_path, frame_path]) as (staged_tail, staged_frame):
        _trace_graphs(model, staged_frame, staged_tail, opset, grid)
    return tail_path


def _trace_graphs(model: FASSST, frame_path: str, tail_path: str, opset: int, grid: str = "square") -> None:
    cfg = model.config
    was_training = model.training
    model.eval()
    outputs = list(FRAME_OUTPUTS)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if grid == "stride":   # dynamic H, W (multiples of the period) and n = (H / cell) (W / cell)
                sg = StrideGridModel(model)
                period = sg.frame.period
                images = torch.zeros(1, 3, 2 * period, 3 * period)
                dynamic = {FRAME_INPUT: {0: "B", 2: "H", 3: "W"}, "boxes": {0: "B", 1: "n"}, "scores": {0: "B", 1: "n"}}
                dynamic.update({n: {0: "B", 2: "h" + n, 3: "w" + n} for n in outputs[2:]})
                frame_module = sg.frame
            else:
                images = torch.zeros(1, 3, cfg.input_size, cfg.input_size)
                dynamic = {name: {0: "B"} for name in [FRAME_INPUT, *outputs]}
                frame_module = FrameGraph(model)
            torch.onnx.export(frame_module, (images,), frame_path, input_names=[FRAME_INPUT],
                              output_names=outputs, dynamic_axes=dynamic,
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
    torch_model = StrideGridModel(model) if exported.metadata.grid is not None else model
    reference = Segmenter(TorchBackend(torch_model, exported.metadata), score_threshold=score_threshold,
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
                      provenance: dict | None = None, grid: str = "square",
                      input_scale: float = 1.0) -> ModelMetadata:
    """Exports a checkpoint; checks parity on ``check_frames`` (at the given
    threshold and at threshold 0, where every grid cell becomes an instance).
    ``output`` and its tail graph appear only when everything succeeded.
    ``grid="stride"`` writes the stride-grid form (docs/results/dense.md):
    the same weights, one cell per input_size / S pixels of any input shape,
    frames resized by ``input_scale``; no default tiling."""
    if grid not in ("square", "stride"):
        raise ExportError(f"grid must be 'square' or 'stride', got {grid!r}")
    if grid == "square" and input_scale != 1.0:
        raise ExportError(f"input_scale applies to the stride grid only, got {input_scale} with grid 'square'")
    if not output.endswith(".onnx"):
        raise ExportError(f"-o must name NAME.onnx, got {output}")
    model, _ = model_from_checkpoint(checkpoint)
    with staged_files([tail_onnx_path(output), output]) as (_, staged):
        tail_path = export_graphs(model, staged, opset, grid)
        extra = dict({"training": provenance} if provenance else {})
        if grid == "stride":
            extra.update(stride_grid_fields(model, input_scale))
            if max_instances is None:   # a frame's grid holds thousands of cells; the core's default for the form
                max_instances = STRIDE_GRID_MAX_INSTANCES
        metadata = metadata_for(model, uint16=uint16, tile=tile, score_threshold=score_threshold,
                                nms_threshold=nms_threshold, max_instances=max_instances,
                                tail_sha256=sha256_file(tail_path), **extra)
        attach_metadata(staged, metadata)
        problems = []
        for threshold in (None, 0.0):
            problems += check_parity(model, staged, check_frames, score_threshold=threshold)
        if problems:
            raise ExportError("the exported model disagrees with PyTorch:\n  " + "\n  ".join(problems[:10]))
    return metadata
