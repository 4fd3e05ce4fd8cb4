"""``fassst-rt quantize``: an exported float model to an INT8 one (both
graphs), calibrated on real frames, written atomically, loadable by
``Segmenter`` like any model."""

import hashlib
import json
import os
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..atomic import atomic_write_bytes
from ..hashing import sha256_file
from ..model_files import METADATA_KEY, tail_onnx_path
from . import calibration, graphs, layers
from .targets import Target, precision_of, target as target_named

Report = Callable[[str], None]

DEFAULT_FRAMES = 24     # calibration frames read from the source
DEFAULT_INPUTS = 256    # frame-graph inputs (tiles) calibrated on, spread over those frames
DEFAULT_ROIS = 2048     # tail inputs (fused ROI features) calibrated on
DEFAULT_METHOD = "minmax"


def _progress(enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return lambda items, what: tqdm(items, desc=what, unit="batch", leave=False)


def _output_paths(model: str, output: str) -> List[str]:
    if os.path.splitext(output)[1].lower() != ".onnx":
        raise ValueError("-o/--output must name NAME.onnx (NAME.tail.onnx is written beside it), got {!r}".format(
            output))
    if os.path.abspath(output) == os.path.abspath(model):
        raise ValueError("-o/--output must differ from the float model {!r} (it is read while the INT8 "
                         "model is written)".format(model))
    return [output, tail_onnx_path(output)]


def quantize_model(model: str, output: str, calib: str, target: str = "cpu", *,
                   frames: int = DEFAULT_FRAMES, max_inputs: int = DEFAULT_INPUTS, max_rois: int = DEFAULT_ROIS,
                   method: str = DEFAULT_METHOD, float_roles: Optional[Sequence[str]] = None,
                   float_nodes: Sequence[str] = (), score_threshold: Optional[float] = None,
                   progress: bool = True, report: Report = print) -> Dict[str, Any]:
    """Quantizes the float model ``model`` (NAME.onnx + NAME.tail.onnx) into
    ``output`` (+ its .tail.onnx) for ``target`` ("cpu" or "tensorrt",
    fassst_rt/quantize/targets.py), calibrated on up to ``frames`` frames of
    ``calib``. ``float_roles`` (default: the target's) and ``float_nodes``
    (node names) stay in float. The tail is calibrated on the instances the
    runtime selects at ``score_threshold`` (default: the model's). Returns
    the precision record written into the metadata."""
    import onnxruntime

    from ..segmenter import Segmenter

    start = time.monotonic()
    spec = target_named(target)  # type: Target
    roles = layers.check_roles(spec.float_roles if float_roles is None else float_roles)
    for name, value, least in (("--inputs", max_inputs, 1), ("--rois", max_rois, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError("{} must be an integer >= {}, got {!r}".format(name, least, value))
    model = os.fspath(model)
    out_frame, out_tail = _output_paths(model, os.fspath(output))
    bar = _progress(progress)

    with Segmenter(model, device="cpu", score_threshold=score_threshold) as seg:
        if precision_of(seg.metadata) is not None:
            raise ValueError("{}: is already quantized ({}); quantize the float model".format(
                model, precision_of(seg.metadata)))
        tail_in = tail_onnx_path(model)
        report("fassst-rt quantize: {} -> {} ({})".format(model, out_frame, spec.description))
        data = calibration.load_frames(calib, frames)
        images = calibration.network_inputs(seg, data.frames)
        all_inputs = len(images)
        images = images[calibration.spread_evenly(list(range(len(images))), max_inputs)]
        report("  calibration: {} frames of {} ({}) -> {} of their {} network inputs".format(
            len(data.frames), data.source, data.kind, len(images), all_inputs))
        features = calibration.tail_inputs(seg, images, max_rois, progress=bar)
        report("  tail calibration: {} fused ROI features (the runtime's selection, score threshold {:g})".format(
            len(features), seg.score_threshold))
        metadata = seg.metadata.to_dict()
        selection_threshold = seg.score_threshold
        float_sha = {"frame_sha256": sha256_file(model), "tail_sha256": sha256_file(tail_in)}

    with tempfile.TemporaryDirectory(prefix="fassst-quantize-") as work:
        results = {}  # type: Dict[str, Any]
        role_nodes_all = {}  # type: Dict[str, List[str]]
        float_biases = {}  # type: Dict[str, List[str]]
        frame_batch = 1 if metadata.get("grid") else 8   # a stride grid's whole frames: one at a time
        readers = {"frame": calibration.frame_reader(images, bar, frame_batch),
                   "tail": calibration.tail_reader(features, bar)}
        for which, source in (("frame", model), ("tail", tail_in)):
            quantized_model, excluded, role_nodes, biases = _quantize_graph(
                which, source, readers[which], spec, method, roles, float_nodes, work)
            role_nodes_all.update(role_nodes)
            float_biases[which] = biases
            results[which] = (quantized_model, excluded)
        unknown = [n for n in float_nodes if n not in set(results["frame"][1]) | set(results["tail"][1])]
        if unknown:
            raise ValueError("--float-node: no node named {} in either graph".format(", ".join(unknown)))

        tail_model, tail_float = results["tail"]
        tail_bytes = tail_model.SerializeToString()
        frame_model, frame_float = results["frame"]
        record = {
            "weights": spec.weights, "activations": spec.activations, "target": spec.name,
            "format": "QDQ", "per_channel_weights": True, "symmetric_activations": spec.symmetric_activations,
            "float_layers": {"roles": list(roles), "frame": frame_float, "tail": tail_float},
            "float_biases": float_biases,
            "layers": {"frame": graphs.count_quantized(frame_model), "tail": graphs.count_quantized(tail_model)},
            "calibration": {"source": os.path.basename(os.path.normpath(data.source)), "kind": data.kind,
                            "frames": data.names, "frame_inputs": len(readers["frame"].data),
                            "tail_inputs": len(readers["tail"].data), "method": method,
                            "score_threshold": round(float(selection_threshold), 6)},
            "quantized_from": float_sha,
            "tool": "onnxruntime {}".format(onnxruntime.__version__),
        }
        metadata["precision"] = record
        metadata["tail_sha256"] = hashlib.sha256(tail_bytes).hexdigest()
        _set_metadata(frame_model, metadata)

        # The tail first, then the frame graph whose metadata names it: each
        # file appears whole or not at all; until the frame graph is replaced
        # an older frame graph refuses the new tail by its sha256.
        atomic_write_bytes(out_tail, tail_bytes)
        atomic_write_bytes(out_frame, frame_model.SerializeToString())

    kept = ["{} ({} nodes)".format(r, len(role_nodes_all[r])) for r in roles if role_nodes_all.get(r)]
    report("  kept in float: {}{}".format(", ".join(kept) or "nothing",
                                          "; and {}".format(", ".join(float_nodes)) if float_nodes else ""))
    report("  8-bit weights: frame graph {int8} layers ({float} float), tail graph ".format(
        **record["layers"]["frame"]) + "{int8} ({float} float)".format(**record["layers"]["tail"]))
    report("done in {:.0f} s: {} ({:.1f} MB), {} ({:.2f} MB)".format(
        time.monotonic() - start, out_frame, graphs.size_mb(out_frame), out_tail, graphs.size_mb(out_tail)))
    return record


def _quantize_graph(which: str, source: str, reader: Any, spec: Target, method: str, roles: Sequence[str],
                    float_nodes: Sequence[str], work: str):
    """One graph: prepared, quantized with the layers of ``roles`` and the
    nodes ``float_nodes`` (those it has) in float, checked, biases repaired.
    Returns (model, the nodes kept in float, role -> nodes, nodes whose bias
    went back to float)."""
    import onnx

    prepared = os.path.join(work, which + ".prepared.onnx")
    graphs.prepare(source, prepared)
    prepared_model = onnx.load(prepared)
    opset = graphs.onnx_opset(onnx.load(source, load_external_data=False))
    role_nodes = (layers.frame_roles if which == "frame" else layers.tail_roles)(prepared_model.graph)
    excluded = sorted({n for r in roles if r in role_nodes for n in role_nodes[r]})
    known = set(graphs.node_names(prepared_model))
    excluded += [n for n in float_nodes if n in known and n not in excluded]
    quantized = os.path.join(work, which + ".int8.onnx")
    graphs.quantize(prepared, quantized, reader, spec, method, excluded)
    model = graphs.finish(quantized, opset)
    biases = graphs.restore_unrepresentable_biases(model, prepared_model)
    return model, excluded, role_nodes, biases


def _set_metadata(model, metadata: Dict[str, Any]) -> None:
    from ..metadata import ModelMetadata

    ModelMetadata(metadata, "the quantized model's metadata")  # validated before it is written
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(metadata, sort_keys=True)
