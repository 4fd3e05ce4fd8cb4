"""The portable export: the whole pipeline of one frame in ONE standard-op
ONNX graph (docs/portable.md), for runtimes fassst_rt does not drive.

``NAME.portable.onnx`` is built from an exported two-graph model (NAME.onnx
with its metadata + NAME.tail.onnx):

    images (1, 3, S, S) float32, normalised as for the frame graph
      -> the frame graph's nodes                    boxes, scores, p1, p2, p3
      -> selection (select's semantics, standard ops + NonMaxSuppression)
      -> RFF: RoiAlign x3, Resize x2, Add x2, Relu  (fassst_rt.onnx_rff)
      -> the tail graph's nodes -> Sigmoid
    outputs  boxes (K, 4) x1, y1, x2, y2 in network-input pixels (unclipped:
             the boxes the masks cover), scores (K,), labels (K,) int64,
             box_masks (K, 2 S1, 2 S1) float32 probabilities.

The thresholds are baked into the graph and recorded in its metadata (key
``fassst``, with ``"portable": true``). Opset 16 or 17 (RoiAlign's
``coordinate_transformation_mode`` needs 16; TensorRT 8.5 parses up to 17).

How the selection reproduces ``processing.select`` with ONNX ops:
  1. best score (ReduceMax) and class (ArgMax: ties -> the lower class, as
     select) of each cell;
  2. each cell's rank in select's order (score descending, equal scores: lower
     cell index first), computed exactly by pairwise comparison, and the cells
     permuted into that order;
  3. NonMaxSuppression (center_point_box=0, per class) sees each candidate
     (score >= threshold, tested with GreaterOrEqual before NMS) only in its
     best class, with a surrogate score 1 + (n - rank) / n that is distinct
     and strictly decreasing in rank, and every other entry at 0 under an NMS
     score threshold of 0.5: NMS's own score comparison (> or >=) and its tie
     order cannot matter;
  4. the kept cells, in rank order (NonZero of a kept mask, no dynamic TopK),
     cut to the first max_instances with a CumSum.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..atomic import staged_files
from ..hashing import sha256_file
from ..metadata import ModelMetadata
from ..model_files import (FRAME_INPUT, FRAME_OUTPUTS, MAX_OPSET, METADATA_KEY, PORTABLE_OUTPUTS, TAIL_INPUT,
                           portable_onnx_path, tail_onnx_path)
from ..onnx_rff import ROI_ALIGN_OPSET, rff_nodes

__all__ = ["PortableError", "export_portable", "selection_nodes", "portable_instances", "run_portable",
           "check_portable_parity", "MAX_OPSET", "PORTABLE_OUTPUTS"]


class PortableError(RuntimeError):
    """The portable export failed or disagrees with the two-graph runtime."""


# ------------------------------------------------------------------ selection

def selection_nodes(boxes: str, scores: str, n: int, num_classes: int, score_threshold: float,
                    nms_threshold: float, max_instances: int, prefix: str = "select/"):
    """Nodes selecting instances from ``boxes`` (n, 4) x1, y1, x2, y2 and
    ``scores`` (n, C) with ``processing.select``'s semantics. Returns
    (nodes, initializers, outputs) where outputs names the (K, 4) boxes, (K,)
    scores, (K,) int64 labels and (K,) int64 cells, in select's order."""
    from onnx import TensorProto, helper, numpy_helper

    p = prefix
    inits = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), p + name))
        return p + name

    def node(op: str, inputs: List[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [p + output], name=p + output, **attrs))
        return p + output

    nodes: List[Any] = []
    idx = np.arange(n, dtype=np.int64)
    axis0, axis1 = const("axis0", np.array([0], np.int64)), const("axis1", np.array([1], np.int64))

    # 1. best class and its score per cell
    best = node("ReduceMax", [scores], "best", axes=[1], keepdims=0)
    label = node("ArgMax", [scores], "label", axis=1, keepdims=0, select_last_index=0)

    # 2. rank[i] = #{j: s_j > s_i} + #{j < i: s_j == s_i}  (select's stable order)
    s_i = node("Unsqueeze", [best, axis1], "s_i")  # (n, 1)
    s_j = node("Unsqueeze", [best, axis0], "s_j")  # (1, n)
    before = const("j_lt_i", idx[None, :] < idx[:, None])  # [i, j] = j < i
    tie_before = node("And", [node("Equal", [s_j, s_i], "eq"), before], "tie_before")
    ahead = node("Or", [node("Greater", [s_j, s_i], "gt"), tie_before], "ahead")
    rank = node("ReduceSum", [node("Cast", [ahead], "ahead_f", to=TensorProto.FLOAT), axis1], "rank",
                keepdims=0)  # (n,) float, exact small integers
    # perm[r] = the cell of rank r
    onehot = node("Equal", [node("Unsqueeze", [rank, axis0], "rank_row"),
                            const("r_col", idx.astype(np.float32)[:, None])], "onehot")
    perm = node("ArgMax", [node("Cast", [onehot], "onehot_f", to=TensorProto.FLOAT)], "perm",
                axis=1, keepdims=0)
    pboxes = node("Gather", [boxes, perm], "pboxes", axis=0)
    pbest = node("Gather", [best, perm], "pbest", axis=0)
    plabel = node("Gather", [label, perm], "plabel", axis=0)

    # 3. per-class NMS over the candidates, each only in its best class
    candidate = node("GreaterOrEqual", [pbest, const("score_threshold", np.array(score_threshold, np.float32))],
                     "candidate")
    in_class = node("Equal", [node("Unsqueeze", [plabel, axis0], "plabel_row"),
                              const("class_col", np.arange(num_classes, dtype=np.int64)[:, None])], "in_class")
    entry = node("And", [in_class, node("Unsqueeze", [candidate, axis0], "candidate_row")], "entry")  # (C, n)
    surrogate = const("surrogate", (1.0 + (n - idx) / float(n)).astype(np.float32)[None, :])
    nms_scores = node("Where", [entry, surrogate, const("zero", np.array(0.0, np.float32))], "nms_scores_cn")
    selected = node("NonMaxSuppression", [
        node("Unsqueeze", [pboxes, axis0], "nms_boxes"), node("Unsqueeze", [nms_scores, axis0], "nms_scores"),
        const("max_per_class", np.array([n], np.int64)),
        const("iou_threshold", np.array([nms_threshold], np.float32)),
        const("nms_score_threshold", np.array([0.5], np.float32))], "selected", center_point_box=0)

    # 4. kept positions in rank order, at most max_instances
    positions = node("Gather", [selected, const("col2", np.array(2, np.int64))], "positions", axis=1)  # (N,)
    hits = node("Equal", [node("Unsqueeze", [positions, axis1], "positions_col"), const("pos_row", idx[None, :])],
                "hits")  # (N, n)
    kept = node("ReduceSum", [node("Cast", [hits], "hits_f", to=TensorProto.FLOAT), axis0], "kept_count",
                keepdims=0)  # (n,), 0 or 1; an empty sum is 0
    kept_b = node("Greater", [kept, const("half", np.array(0.5, np.float32))], "kept")
    count = node("CumSum", [node("Cast", [kept_b], "kept_f", to=TensorProto.FLOAT),
                            const("axis0_scalar", np.array(0, np.int64))], "count")
    within = node("LessOrEqual", [count, const("max_instances", np.array(float(max_instances), np.float32))],
                  "within")
    final = node("And", [kept_b, within], "final")
    order = node("Reshape", [node("NonZero", [final], "nonzero"), const("flat", np.array([-1], np.int64))],
                 "order")  # (K,) ascending rank
    out_boxes = node("Gather", [pboxes, order], "boxes", axis=0)
    out_scores = node("Gather", [pbest, order], "scores", axis=0)
    out_labels = node("Gather", [plabel, order], "labels", axis=0)
    out_cells = node("Gather", [perm, order], "cells", axis=0)
    return nodes, inits, (out_boxes, out_scores, out_labels, out_cells)


# --------------------------------------------------------------------- graphs

def _renamed(graph, prefix: str, keep: Sequence[str] = ()):
    """A copy of ``graph`` with every tensor and node name prefixed, except
    the names in ``keep`` (the shared input)."""
    from onnx import GraphProto

    g = GraphProto()
    g.CopyFrom(graph)
    keep = set(keep) | {""}

    def rn(name: str) -> str:
        return name if name in keep else prefix + name

    for nd in g.node:
        if any(a.HasField("g") or len(a.graphs) for a in nd.attribute):
            raise PortableError("node {} ({}) holds a subgraph; the portable export merges flat graphs "
                                "only".format(nd.name, nd.op_type))
        nd.name = prefix + nd.name if nd.name else ""
        nd.input[:] = [rn(x) for x in nd.input]
        nd.output[:] = [rn(x) for x in nd.output]
    for seq in (g.input, g.output, g.value_info):
        for vi in seq:
            vi.name = rn(vi.name)
    for init in g.initializer:
        init.name = rn(init.name)
    if len(g.sparse_initializer):
        raise PortableError("sparse initializers are not supported by the portable export")
    return g


def _load_at_opset(path: str, what: str):
    import onnx
    from onnx import version_converter

    if not os.path.isfile(path):
        raise PortableError("{}: the {} does not exist".format(path, what))
    try:
        model = onnx.load(path)
    except Exception as exc:  # a truncated or foreign file
        raise PortableError("{}: cannot read the {} as ONNX ({})".format(path, what, exc)) from None
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset > MAX_OPSET:
        raise PortableError("{}: the {} uses opset {}, above {} (TensorRT 8.5's limit); re-export it "
                            "with --opset {}".format(path, what, opset, MAX_OPSET, MAX_OPSET))
    if opset < ROI_ALIGN_OPSET:
        model = version_converter.convert_version(model, MAX_OPSET)
    return model


def _metadata(frame) -> Dict[str, Any]:
    props = {p.key: p.value for p in frame.metadata_props}
    if METADATA_KEY not in props:
        raise PortableError("the frame graph has no '{}' metadata: export it with `fassst-rt export`"
                            .format(METADATA_KEY))
    return json.loads(props[METADATA_KEY])


def _static_dims(value_info) -> Tuple:
    return tuple(d.dim_value if d.HasField("dim_value") else None
                 for d in value_info.type.tensor_type.shape.dim)


def export_portable(frame_path: str, output_path: Optional[str] = None,
                    score_threshold: Optional[float] = None, nms_threshold: Optional[float] = None,
                    max_instances: Optional[int] = None,
                    check_frames: Sequence[np.ndarray] = ()) -> str:
    """Writes NAME.portable.onnx (or ``output_path``) from the exported model
    ``frame_path`` (NAME.onnx, NAME.tail.onnx beside it). Thresholds default
    to the model's metadata. With ``check_frames``, the portable graph is run
    on them and compared with the two-graph runtime under the parity rule
    (PortableError if they disagree; the file is then not written). Returns
    the path written."""
    import onnx
    from onnx import TensorProto, helper

    frame_path = os.fspath(frame_path)
    tail_path = tail_onnx_path(frame_path)
    output_path = portable_onnx_path(frame_path) if output_path is None else os.fspath(output_path)
    frame = _load_at_opset(frame_path, "frame graph")
    doc = _metadata(frame)
    meta = ModelMetadata(doc, frame_path)
    if meta.tail_sha256 and os.path.isfile(tail_path) and sha256_file(tail_path) != meta.tail_sha256:
        raise PortableError("{}: the tail graph's sha256 does not match the frame graph's metadata "
                            "(the two files come from different exports)".format(tail_path))
    tail = _load_at_opset(tail_path, "tail graph")

    score_threshold = meta.score_threshold if score_threshold is None else float(score_threshold)
    nms_threshold = meta.nms_threshold if nms_threshold is None else float(nms_threshold)
    max_instances = meta.max_instances if max_instances is None else max_instances
    for name, value in (("score_threshold", score_threshold), ("nms_threshold", nms_threshold)):
        if not 0.0 <= value <= 1.0:
            raise PortableError("{} must be in [0, 1], got {}".format(name, value))
    if isinstance(max_instances, bool) or not isinstance(max_instances, (int, np.integer)) or max_instances < 0:
        raise PortableError("max_instances must be an int >= 0, got {!r}".format(max_instances))
    max_instances = int(max_instances)

    n, C, S, S1 = meta.num_cells, meta.num_classes, meta.input_size, meta.roi_size
    fg = _renamed(frame.graph, "frame/", keep=[FRAME_INPUT])
    tg = _renamed(tail.graph, "tail/")
    f_out = {o.name[len("frame/"):]: o for o in fg.output}
    if [i.name for i in fg.input if i.name not in {x.name for x in fg.initializer}] != [FRAME_INPUT] \
            or set(f_out) != set(FRAME_OUTPUTS):
        raise PortableError("{}: not a FASSST frame graph (input '{}'; outputs {})".format(
            frame_path, FRAME_INPUT, ", ".join(FRAME_OUTPUTS)))
    for name, shape in (("boxes", (n, 4)), ("scores", (n, C))):
        got = _static_dims(f_out[name])[1:]
        if any(g is not None and g != e for g, e in zip(got, shape)):
            raise PortableError("{}: the frame graph's '{}' has shape (B, {}), the metadata says (B, {})"
                                .format(frame_path, name, ", ".join(map(str, got)), ", ".join(map(str, shape))))
    if len(tg.input) - len(tg.initializer) > 1 or len(tg.output) != 1:
        raise PortableError("{}: not a FASSST tail graph (one input '{}', one output)".format(tail_path, TAIL_INPUT))
    tail_in = [i.name for i in tg.input if i.name not in {x.name for x in tg.initializer}][0]
    tail_out = tg.output[0].name

    # the frame graph, batch fixed to 1
    image_input = [i for i in fg.input if i.name == FRAME_INPUT][0]
    dims = image_input.type.tensor_type.shape.dim
    dims[0].Clear()
    dims[0].dim_value = 1

    nodes = list(fg.node)
    inits = list(fg.initializer)
    shape_n4 = helper.make_tensor("select/shape_n4", TensorProto.INT64, [2], [n, 4])
    shape_nc = helper.make_tensor("select/shape_nc", TensorProto.INT64, [2], [n, C])
    inits += [shape_n4, shape_nc]
    nodes += [helper.make_node("Reshape", ["frame/boxes", "select/shape_n4"], ["select/boxes_n"],
                               name="select/boxes_n"),
              helper.make_node("Reshape", ["frame/scores", "select/shape_nc"], ["select/scores_n"],
                               name="select/scores_n")]
    sel_nodes, sel_inits, (boxes, scores, labels, _cells) = selection_nodes(
        "select/boxes_n", "select/scores_n", n, C, score_threshold, nms_threshold, max_instances)
    nodes += sel_nodes
    inits += sel_inits
    nodes += [helper.make_node("Identity", [boxes], ["boxes"], name="out/boxes"),
              helper.make_node("Identity", [scores], ["scores"], name="out/scores"),
              helper.make_node("Identity", [labels], ["labels"], name="out/labels"),
              helper.make_node("Shape", [boxes], ["rff/boxes_shape"], name="rff/boxes_shape"),
              helper.make_node("Gather", ["rff/boxes_shape", "rff/zero_index"], ["rff/k"], name="rff/k", axis=0),
              helper.make_node("ConstantOfShape", ["rff/k"], ["rff/batch_indices"], name="rff/batch_indices",
                               value=helper.make_tensor("v", TensorProto.INT64, [1], [0]))]
    inits.append(helper.make_tensor("rff/zero_index", TensorProto.INT64, [1], [0]))
    rff, rff_inits = rff_nodes(["frame/p1", "frame/p2", "frame/p3"], "boxes", "rff/batch_indices", tail_in,
                               S1, meta.strides, prefix="rff/")
    nodes += rff
    inits += rff_inits
    nodes += list(tg.node)
    inits += list(tg.initializer)
    inits.append(helper.make_tensor("out/axis1", TensorProto.INT64, [1], [1]))
    nodes += [helper.make_node("Squeeze", [tail_out, "out/axis1"], ["out/logits"], name="out/squeeze"),
              helper.make_node("Sigmoid", ["out/logits"], ["box_masks"], name="out/sigmoid")]

    outputs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["K", 4]),
               helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["K"]),
               helper.make_tensor_value_info("labels", TensorProto.INT64, ["K"]),
               helper.make_tensor_value_info("box_masks", TensorProto.FLOAT, ["K", 2 * S1, 2 * S1])]
    graph = helper.make_graph(nodes, "fassst_portable", [image_input], outputs, initializer=inits)
    opset = max(ROI_ALIGN_OPSET, *(o.version for m in (frame, tail) for o in m.opset_import
                                   if o.domain in ("", "ai.onnx")))
    others = {o.domain: o.version for m in (frame, tail) for o in m.opset_import if o.domain not in ("", "ai.onnx")}
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]
                              + [helper.make_opsetid(d, v) for d, v in others.items()],
                              producer_name="fassst_rt portable export")
    model.ir_version = max(frame.ir_version, tail.ir_version, 8)
    doc.update(portable=True, score_threshold=score_threshold, nms_threshold=nms_threshold,
               max_instances=max_instances)
    ModelMetadata(doc, output_path)  # still a valid document
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(doc, indent=2, sort_keys=True)
    model.doc_string = ("FASSST whole pipeline, batch 1: images (1, 3, {S}, {S}) -> boxes (K, 4) network-input "
                        "px, scores (K,), labels (K,), box_masks (K, {m}, {m}) probabilities".format(S=S, m=2 * S1))
    onnx.checker.check_model(model, full_check=True)
    # Written and checked under its own name in a staging folder: it takes its place only when the
    # parity check passed (fassst_rt/atomic.py).
    with staged_files([output_path]) as (staged,):
        onnx.save(model, staged)
        if check_frames:
            problems = check_portable_parity(frame_path, staged, check_frames)
            if problems:
                raise PortableError("the portable graph disagrees with the two-graph runtime:\n  "
                                    + "\n  ".join(problems[:10]))
    return output_path


# ----------------------------------------------------------------------- run

def portable_instances(outputs: Dict[str, np.ndarray], geometry, height: int, width: int,
                       names: Sequence[str]):
    """The portable graph's outputs (network-input pixels) for one
    letterboxed frame -> :class:`fassst_rt.results.Instances` in frame pixels
    (boxes clipped to the frame; masks pasted over the unclipped boxes)."""
    from .. import processing
    from ..results import Instances

    net = np.asarray(outputs["boxes"], np.float32).reshape(-1, 4)
    return Instances(boxes=processing.boxes_to_frame(net, geometry, height, width, clip=True),
                     scores=outputs["scores"], labels=outputs["labels"], names=names,
                     box_masks=np.asarray(outputs["box_masks"], np.float32),
                     mask_boxes=processing.boxes_to_frame(net, geometry, height, width, clip=False),
                     image_size=(height, width))


def _portable_metadata(session) -> ModelMetadata:
    props = session.get_modelmeta().custom_metadata_map
    return ModelMetadata.from_json(props[METADATA_KEY], "portable graph")


def run_portable(session, frame: np.ndarray, channel_order: str = "bgr"):
    """Runs a portable graph (an onnxruntime.InferenceSession) on one frame
    (any frame ``Segmenter.run`` takes, in ``channel_order``) with the
    runtime's own preprocessing; returns Instances."""
    from .. import processing

    meta = _portable_metadata(session)
    images, (geometry,) = processing.preprocess_frames([frame], meta, channel_order)
    values = session.run(list(PORTABLE_OUTPUTS), {FRAME_INPUT: images})
    return portable_instances(dict(zip(PORTABLE_OUTPUTS, values)), geometry, frame.shape[0], frame.shape[1],
                              meta.class_names)


def check_portable_parity(frame_path: str, portable_path: str, frames: Sequence[np.ndarray]) -> List[str]:
    """Runs the portable graph and the two-graph runtime (Segmenter, same
    thresholds, no tiling) on ``frames``; returns the parity problems."""
    import onnxruntime as ort

    from ..parity import parity_problems
    from ..segmenter import Segmenter

    session = ort.InferenceSession(portable_path, providers=["CPUExecutionProvider"])
    meta = _portable_metadata(session)
    problems = []
    with Segmenter(frame_path, device="cpu", score_threshold=meta.score_threshold,
                   nms_threshold=meta.nms_threshold, max_instances=meta.max_instances, tile=False) as seg:
        for i, frame in enumerate(frames):
            a, b = seg.run(frame), run_portable(session, frame)
            problems += ["frame {}: {}".format(i, p) for p in parity_problems(a, b, meta.score_threshold)]
    return problems
