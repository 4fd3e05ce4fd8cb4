"""``fassst-rt export CHECKPOINT -o NAME.onnx``: the frame graph (NAME.onnx,
dynamic batch, carrying the metadata) and the tail graph (NAME.tail.onnx,
dynamic K), then a parity check of the exported model against the PyTorch
model on real frames; the export fails if they disagree."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Sequence

import numpy as np
import torch

from ..backends.onnxruntime_backend import tail_path_for
from ..hashing import sha256_file
from ..metadata import METADATA_KEY, ModelMetadata, make_metadata
from ..parity import parity_problems
from .checkpoint import load_checkpoint, model_from_checkpoint
from .network import FASSST, FrameGraph, TailGraph
from .torch_backend import TorchBackend

MAX_OPSET = 17  # TensorRT 8.5 (JetPack 5) parses up to opset 17


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
    ``masks``, K dynamic). Returns the tail path."""
    if opset > MAX_OPSET:
        raise ExportError(f"opset {opset} is above {MAX_OPSET}, the newest TensorRT 8.5 parses")
    cfg = model.config
    tail_path = tail_path_for(frame_path)
    os.makedirs(os.path.dirname(os.path.abspath(frame_path)), exist_ok=True)
    model = model.eval()
    outputs = ["boxes", "scores", "p1", "p2", "p3"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images = torch.zeros(1, 3, cfg.input_size, cfg.input_size)
        torch.onnx.export(FrameGraph(model), (images,), frame_path, input_names=["images"],
                          output_names=outputs,
                          dynamic_axes={name: {0: "B"} for name in ["images", *outputs]},
                          opset_version=opset, dynamo=False, do_constant_folding=True)
        rois = torch.zeros(2, cfg.M, cfg.S1, cfg.S1)
        torch.onnx.export(TailGraph(model), (rois,), tail_path, input_names=["rois"],
                          output_names=["masks"], dynamic_axes={"rois": {0: "K"}, "masks": {0: "K"}},
                          opset_version=opset, dynamo=False, do_constant_folding=True)
    return tail_path


def attach_metadata(frame_path: str, metadata: ModelMetadata) -> None:
    """Stores the metadata JSON in the frame graph's metadata_props."""
    import onnx

    proto = onnx.load(frame_path)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    onnx.checker.check_model(proto)
    onnx.save(proto, frame_path)


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
    threshold and at threshold 0, where every grid cell becomes an instance)."""
    if not output.endswith(".onnx"):
        raise ExportError(f"-o must name NAME.onnx, got {output}")
    model, _ = model_from_checkpoint(checkpoint)
    tail_path = export_graphs(model, output, opset)
    metadata = metadata_for(model, uint16=uint16, tile=tile, score_threshold=score_threshold,
                            nms_threshold=nms_threshold, max_instances=max_instances,
                            tail_sha256=sha256_file(tail_path), **({"training": provenance} if provenance else {}))
    attach_metadata(output, metadata)
    problems = []
    for threshold in (None, 0.0):
        problems += check_parity(model, output, check_frames, score_threshold=threshold)
    if problems:
        raise ExportError("the exported model disagrees with PyTorch:\n  " + "\n  ".join(problems[:10]))
    return metadata


# ---------------------------------------------------------------------- CLI

def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint written by `fassst-rt train`")
    parser.add_argument("-o", "--output", required=True, help="NAME.onnx (NAME.tail.onnx is written beside it)")
    parser.add_argument("--opset", type=int, default=MAX_OPSET, help=f"ONNX opset (at most {MAX_OPSET})")
    parser.add_argument("--check-images", nargs="*", default=[],
                        help="image files for the parity check (default: frames of the training data)")
    parser.add_argument("--uint16-mapping", default=None,
                        help="JSON rule for 16-bit frames (default: the training data's, if recorded)")
    parser.add_argument("--tile", default=None, help="default tiling SIZE:OVERLAP recorded in the metadata")
    parser.add_argument("--score-threshold", type=float, default=0.3)
    parser.add_argument("--nms-threshold", type=float, default=0.5)
    parser.add_argument("--max-instances", type=int, default=None)
    parser.add_argument("--portable", action="store_true",
                        help="also write NAME.portable.onnx: the whole pipeline in one standard-op graph "
                             "(thresholds baked in; docs/portable.md), checked on the same frames")


def _training_info(checkpoint: str) -> dict:
    state = load_checkpoint(checkpoint)
    return {"train_config": state.get("train_config", {}), "iteration": state.get("iteration"),
            "metrics": state.get("metrics", {})}


def _default_check_frames(info: dict) -> list[np.ndarray]:
    """A few frames of the training data (its COCO file names them)."""
    from ..io import read_image

    data = info["train_config"] if isinstance(info["train_config"], dict) else {}
    ann = data.get("val_ann") or data.get("train_ann")
    image_dir = (data.get("val_images") if data.get("val_ann") else data.get("train_images"))
    if not ann or not os.path.isfile(ann):
        return []
    with open(ann) as f:
        images = json.load(f)["images"][:3]
    return [read_image(os.path.join(image_dir or os.path.dirname(ann), im["file_name"])) for im in images]


def _uint16_from_training(info: dict) -> dict | None:
    data = info["train_config"] if isinstance(info["train_config"], dict) else {}
    ann = data.get("train_ann")
    if ann and os.path.isfile(ann):
        with open(ann) as f:
            return json.load(f).get("info", {}).get("input_mapping")
    return None


def run(args) -> int:
    from ..io import read_image

    info = _training_info(args.checkpoint)
    frames = [read_image(p) for p in args.check_images] or _default_check_frames(info)
    if not frames:
        raise ExportError("no frames for the parity check: pass --check-images FILE ...")
    uint16 = json.loads(args.uint16_mapping) if args.uint16_mapping else _uint16_from_training(info)
    tile = None
    if args.tile:
        size, overlap = (int(v) for v in args.tile.split(":"))
        tile = {"size": size, "overlap": overlap}
    metadata = export_checkpoint(args.checkpoint, args.output, args.opset, frames, uint16=uint16,
                                 tile=tile, score_threshold=args.score_threshold,
                                 nms_threshold=args.nms_threshold, max_instances=args.max_instances,
                                 provenance={"iteration": info["iteration"], "metrics": info["metrics"]})
    print(f"exported {args.output} and {tail_path_for(args.output)} "
          f"({len(metadata.class_names)} classes, input {metadata.input_size}); "
          f"parity with PyTorch checked on {len(frames)} frames")
    if args.portable:
        from .portable import export_portable
        path = export_portable(args.output, None, args.score_threshold, args.nms_threshold,
                               args.max_instances, check_frames=frames)
        print(f"exported {path} (one graph; parity with the two-graph runtime checked)")
    return 0
