"""Side-by-side comparisons, each in alternating blocks in this process with the same
threads (side_by_side.time_models): the portable single-graph export, other ONNX
models (model-only), and ONNX Runtime's intra-op spinning on vs off."""

import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from .side_by_side import time_models
from .spinning import ort_session, set_ort_spinning
from .stage_timing import Pipeline


def build_portable(model: str, instances: int, out_dir: str):
    """The portable single-graph export of ``model`` (fassst_rt.train.portable, ONNX only: no
    PyTorch), with the benchmark's selection baked in (score threshold 0, NMS off, at most K):
    (path, how it was made), or (None, why not)."""
    try:
        from fassst_rt.train.portable import export_portable
        from fassst_rt.model_files import portable_onnx_path
        path = os.path.join(out_dir, os.path.basename(portable_onnx_path(model)))
        export_portable(model, path, score_threshold=0.0, nms_threshold=1.0, max_instances=instances)
        return path, ("built here from {} by fassst_rt.train.portable.export_portable (score threshold 0, "
                      "NMS off, max_instances {})".format(os.path.basename(model), instances))
    except Exception as exc:  # the comparison is skipped, with the reason, not the run
        return None, "the portable export of {} failed: {}: {}".format(model, type(exc).__name__, exc)


def portable_feeds(inputs, network_input: np.ndarray, instances: int):
    """The portable graph's feeds: the network input, and the benchmark's selection
    (threshold 0, NMS off, at most K) for graphs that take it as inputs. A str says
    which input cannot be fed."""
    feeds = {"images": network_input}
    for name, info in inputs.items():
        if name == "images":
            continue
        lname = name.lower()
        dtype = np.int64 if "int64" in info.type else np.float32
        if "score" in lname:
            feeds[name] = np.array(0.0, dtype).reshape([1] * len(info.shape))
        elif "iou" in lname or "nms" in lname:
            feeds[name] = np.array(1.0, dtype).reshape([1] * len(info.shape))
        elif "max" in lname:
            feeds[name] = np.array(instances, dtype).reshape([1] * len(info.shape))
        else:
            return "don't know what to feed its input {!r}".format(name)
    return feeds


def compare_portable(pipe: Pipeline, path: str, frames: List[np.ndarray], n: int, threads: int,
                     providers: Sequence[str]) -> Dict[str, object]:
    """Fused RFF kernel path (Segmenter: letterbox, frame graph, select, RFF kernel, tail; no paste)
    vs the portable single graph (letterbox + one ONNX Runtime call), interleaved."""
    if not os.path.isfile(path):
        return {"skipped": "no portable export at {} (the `--portable` export writes NAME.portable.onnx; "
                           "it is not available for this model yet)".format(path)}
    sess = ort_session(path, threads, providers)
    inputs = {i.name: i for i in sess.get_inputs()}
    if "images" not in inputs:
        return {"skipped": "{} has no input 'images' (inputs: {})".format(path, list(inputs))}
    frame = frames[0]
    feeds = portable_feeds(inputs, pipe.network_input(frame), pipe.instances)
    if isinstance(feeds, str):
        return {"skipped": "{}: {}".format(path, feeds)}
    outs = sess.run(None, feeds)
    names = [o.name for o in sess.get_outputs()]
    k_portable = int(np.shape(outs[names.index("boxes")])[0]) if "boxes" in names else None

    def fused():
        pipe.seg.run(frame)

    def portable():
        x = pipe.network_input(frame)
        sess.run(None, dict(feeds, images=x))

    res = time_models({"fused_rff_kernel_path": fused, "portable_single_graph": portable}, n)
    return {"path": path, "instances_fused": pipe.instances, "instances_portable": k_portable,
            "what": "letterbox + network + select + RFF + tail, no paste (both)",
            "median_ms": {k: v["median"] for k, v in res.items()},
            "ratio_portable_over_fused": res["portable_single_graph"]["median"] / res["fused_rff_kernel_path"]["median"],
            "runs": n,
            "inputs_fed": sorted(feeds)}


def compare_other(pipe: Pipeline, path: str, frames: List[np.ndarray], n: int, threads: int,
                  providers: Sequence[str]) -> Dict[str, object]:
    """Another ONNX model, model-only, interleaved with our model-only time (frame graph + RFF + tail)."""
    from fassst_rt.flops import count_graph

    sess = ort_session(path, threads, providers)
    inp = sess.get_inputs()[0]
    size = pipe.meta.input_size
    shape = []
    for i, d in enumerate(inp.shape):
        if isinstance(d, int) and d > 0:
            shape.append(d)
        else:
            shape.append(1 if i == 0 else (3 if i == 1 else size))
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    other_size = shape[2:] if len(shape) == 4 else shape
    row = {"path": path, "input": inp.name, "input_shape": shape,
           "same_input_size": len(shape) == 4 and shape[2] == size and shape[3] == size}
    sidecar = os.path.splitext(path)[0] + ".json"  # benchmarks/peers.py records how it made the file
    if os.path.isfile(sidecar):
        try:
            with open(sidecar) as f:
                row["provenance"] = json.load(f)
        except ValueError:
            pass
    try:
        c = count_graph(path, input_shapes={inp.name: shape})
        row["params"], row["gflops"] = c.params, c.flops / 1e9
    except Exception as exc:  # counting is a courtesy; timing is the point
        row["count_error"] = "{}: {}".format(type(exc).__name__, exc)
    frame = frames[0]
    res = time_models({"ours_whole_frame": lambda: pipe.whole_frame(frame),
                       "ours_model_only": lambda: pipe.model_only(frame),
                       "other_model_only": lambda: sess.run(None, {inp.name: x})}, n)
    row.update({"median_ms": {k: v["median"] for k, v in res.items()}, "runs": n,
                "ratio_ours_over_other": res["ours_model_only"]["median"] / res["other_model_only"]["median"],
                "ratio_ours_whole_frame_over_other": (res["ours_whole_frame"]["median"]
                                                      / res["other_model_only"]["median"]),
                "note": "model-only: graph calls on a prepared input, no letterbox/select/paste; other input {}"
                        .format("x".join(str(s) for s in other_size))})
    return row




def portable_comparison(given: Optional[str], pipe: Pipeline, model: str, frames: List[np.ndarray], n: int,
                        threads: int, providers: Sequence[str], out_dir: str) -> Dict[str, object]:
    """The fused path vs the portable export ``given`` (--compare-portable), else one built here."""
    portable, origin = given, "given with --compare-portable"
    if portable is None and model.endswith(".onnx"):
        portable, origin = build_portable(model, pipe.instances, out_dir)
    if portable is None:
        return {"skipped": origin or "no ONNX model to build the portable export from"}
    row = compare_portable(pipe, portable, frames, n, threads, providers)
    row["origin"] = origin
    return row


def other_comparisons(paths: Sequence[str], pipe: Pipeline, frames: List[np.ndarray], n: int, threads: int,
                      providers: Sequence[str], ort_spinning: str, other_spinning: str) -> List[Dict[str, object]]:
    """compare_other for each --compare model; ``other_spinning`` (--other-spinning) applies to
    the other model's session only."""
    others = []
    for path in paths:
        try:
            if other_spinning != "same":
                set_ort_spinning(other_spinning)
            others.append(compare_other(pipe, path, frames, n, threads, providers))
            others[-1]["ort_spinning"] = ort_spinning if other_spinning == "same" else other_spinning
            set_ort_spinning(ort_spinning)
        except Exception as exc:
            others.append({"path": path, "error": "{}: {}".format(type(exc).__name__, exc)})
    return others


def spinning_comparison(pipe: Pipeline, frames: List[np.ndarray], n: int, threads: int, backend: str, device: str,
                        instances: int, ort_spinning: str) -> Dict[str, object]:
    """The whole frame with ONNX Runtime's spinning as set (--ort-spinning) vs forced the other
    way, in a second Pipeline of the same model."""
    # the backend's own default is spinning off (OnnxRuntimeBackend(spinning=False))
    spinning_now = "on" if ort_spinning == "on" else "off"
    spinning_other = "off" if spinning_now == "on" else "on"
    set_ort_spinning(spinning_other)
    other_pipe = Pipeline(pipe.path, backend, device, threads, instances)
    set_ort_spinning(ort_spinning)
    label_b = "spinning " + spinning_other
    label_a = "spinning " + spinning_now + (" (backend default)" if ort_spinning == "default" else "")
    f0 = frames[0]
    r = time_models({label_a: lambda: pipe.whole_frame(f0), label_b: lambda: other_pipe.whole_frame(f0)}, n)
    other_pipe.close()
    return {"median_ms": {k: v["median"] for k, v in r.items()}, "p90_ms": {k: v["p90"] for k, v in r.items()},
            "runs": n, "what": "whole frame, ONNX Runtime intra-op spinning of both sessions as set by the "
                               "backend vs forced the other way"}


def run_comparisons(args, pipe: Pipeline, model: str, frames: List[np.ndarray], threads: int,
                    providers: Sequence[str], backend: str, device: str, out_dir: str) -> Dict[str, object]:
    """Every comparison the command line asks for (the portable one always)."""
    n = max(args.sweep_frames or args.frames // 4, 5)
    providers = list(providers) or ["CPUExecutionProvider"]
    comparisons = {}  # type: Dict[str, object]
    comparisons["portable"] = portable_comparison(args.compare_portable, pipe, model, frames, n, threads,
                                                  providers, out_dir)
    comparisons["others"] = other_comparisons(args.compare, pipe, frames, n, threads, providers,
                                              args.ort_spinning, args.other_spinning)
    if args.compare_spinning and pipe.seg.backend.name == "onnxruntime":
        comparisons["ort_spinning"] = spinning_comparison(pipe, frames, n, threads, backend, device,
                                                          args.instances, args.ort_spinning)
    return comparisons
