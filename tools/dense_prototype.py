"""One network pass per whole frame with the stride-grid form of a model
(fassst_rt/train/stride_grid.py), measured against the tiled runtime:
mask and box AP (COCO, maxDets 1000, class-aware, fassst_rt.train.evaluate)
and time per frame, side by side. A prototype of the runtime's dense path;
docs/results/dense.md has the numbers and what the C++ core still needs.

    python tools/dense_prototype.py export --model engines/fassst_default.onnx -o /tmp/dense/sg.onnx
    python tools/dense_prototype.py eval --stride-grid /tmp/dense/sg.onnx --model engines/fassst_default.onnx \
        --ann $D/frames_val.json --images $D --scales 1.0 1.25 1.5 --json val.json
    python tools/dense_prototype.py time --stride-grid /tmp/dense/sg.onnx --model engines/fassst_default.onnx \
        --frame $D/frames/hela_t15.png --scales 1.0 1.5 --compare ~/.cache/fassst_rt/peers/yolo11n-seg_704x1120.onnx

Needs PyTorch (export only), ONNX Runtime, OpenCV and pycocotools.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fassst_rt import ops  # noqa: E402
from fassst_rt.metadata import ModelMetadata  # noqa: E402
from fassst_rt.model_files import METADATA_KEY, tail_onnx_path  # noqa: E402
from fassst_rt.processing import paste_masks, select, sigmoid  # noqa: E402
from fassst_rt.results import tight_box  # noqa: E402


def session(path, threads):
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def model_config_from_files(meta, frame_onnx):
    """The architecture of an exported model: sizes from its metadata, widths
    read from its graphs (stem channels -> width multiplier, IAM predictor's
    input -> IAM channels, the tail's first convolution -> tail channels)."""
    from fassst_rt.train.config import ModelConfig
    from fassst_rt.train.network import make_divisible
    from fassst_rt.train.stride_grid import onnx_conv_weights

    frame = onnx_conv_weights(frame_onnx)
    tail = onnx_conv_weights(tail_onnx_path(frame_onnx))
    stem = frame[0][1].shape[0]
    widths = [w / 100 for w in range(10, 301, 5) if make_divisible(32 * w / 100) == stem]
    predictor = [w for op, w, b in frame if w.shape[:2] == (4 + len(meta.class_names), w.shape[1])
                 and w.shape[2:] == (1, 1)]
    base = {"input_size": meta.input_size, "M": meta.mask_channels, "S1": meta.roi_size, "S": meta.grid_size,
            "num_classes": len(meta.class_names), "class_names": list(meta.class_names),
            "tail_channels": int(tail[0][1].shape[0]), "iam_channels": int(predictor[-1].shape[1])}
    for w in sorted(widths, key=lambda v: abs(v - 0.5)):   # the stem rounds several widths alike
        cfg = ModelConfig.from_dict(dict(base, width_mult=w))
        try:
            from fassst_rt.train.network import build_model
            from fassst_rt.train.stride_grid import conv_modules_in_order

            shapes = [tuple(c.weight.shape) for c in conv_modules_in_order(build_model(cfg))]
        except ValueError:
            continue
        if shapes == [tuple(w_.shape) for _, w_, _ in frame + tail]:
            return cfg
    raise ValueError("{}: no MobileNetV2 width reproduces its convolutions".format(frame_onnx))


def export(args):
    import torch

    from fassst_rt.train.network import build_model
    from fassst_rt.train.stride_grid import StrideGridFrame, load_onnx_weights

    meta = read_metadata(args.model)
    model = build_model(model_config_from_files(meta, args.model))
    load_onnx_weights(model, args.model, tail_onnx_path(args.model))
    graph = StrideGridFrame(model.eval()).eval()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    x = torch.zeros(1, 3, graph.period * 2, graph.period * 3)
    names = ["boxes", "scores", "p1", "p2", "p3"]
    dyn = {"images": {0: "B", 2: "H", 3: "W"}}
    dyn.update({n: {0: "B", 1: "n"} for n in names[:2]})
    dyn.update({n: {0: "B", 2: "h" + n, 3: "w" + n} for n in names[2:]})
    with torch.no_grad():
        torch.onnx.export(graph, (x,), args.output, input_names=["images"], output_names=names,
                          dynamic_axes=dyn, opset_version=17, dynamo=False, do_constant_folding=True)
    info = {"period": graph.period, "cell": graph.cell, "S": graph.S, "source": args.model}
    with open(args.output + ".json", "w") as f:
        json.dump(info, f)
    print(json.dumps(info))


def read_metadata(path):
    import onnx

    proto = onnx.load(path, load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    return ModelMetadata.from_json(props[METADATA_KEY], source=path)


class DenseRunner:
    """preprocess (scale, pad to the period) -> stride-grid frame graph ->
    select -> RFF kernel -> tail -> paste; the runtime's core functions for
    select, RFF, sigmoid and paste."""

    def __init__(self, stride_grid, model, threads=2, score_threshold=0.05, nms_threshold=0.5,
                 max_instances=2000):
        import cv2

        self.cv2 = cv2
        self.meta = read_metadata(model)
        with open(stride_grid + ".json") as f:
            info = json.load(f)
        self.period = info["period"]
        self.frame = session(stride_grid, threads)
        self.tail = session(tail_onnx_path(model), threads)
        self.score_threshold, self.nms_threshold, self.max_instances = score_threshold, nms_threshold, max_instances
        self.mean = np.array(self.meta.mean, np.float32) * 255
        self.std = np.array(self.meta.std, np.float32) * 255
        ops.set_num_threads(threads)

    def network_input(self, image, scale):
        """(1, 3, H', W') normalised input: scaled, padded right and bottom to
        the period; and the scaled (height, width)."""
        if image.ndim == 2:
            rgb = np.repeat(image[:, :, None], 3, axis=2)
        else:
            rgb = image[:, :, ::-1]
        h, w = rgb.shape[:2]
        nh, nw = int(round(h * scale)), int(round(w * scale))
        if (nh, nw) != (h, w):
            rgb = self.cv2.resize(rgb, (nw, nh), interpolation=self.cv2.INTER_LINEAR)
        ph, pw = -(-nh // self.period) * self.period, -(-nw // self.period) * self.period
        canvas = np.full((ph, pw, 3), 114, np.float32)
        canvas[:nh, :nw] = rgb
        return ((canvas - self.mean) / self.std).transpose(2, 0, 1)[None].copy(), (h, w)

    def run(self, image, scale, box_source="regressed", timings=None):
        t0 = time.perf_counter()
        x, (h, w) = self.network_input(image, scale)
        ph, pw = x.shape[2:]
        t1 = time.perf_counter()
        boxes, scores, p1, p2, p3 = self.frame.run(None, {"images": x})
        t2 = time.perf_counter()
        sel = select(boxes[0], scores[0], self.score_threshold, self.nms_threshold, self.max_instances)
        k = len(sel.cells)
        net_boxes = boxes[0][sel.cells]
        t3 = time.perf_counter()
        s1 = self.meta.roi_size
        if k:
            rois = np.concatenate([np.zeros((k, 1), np.float32), net_boxes], axis=1)
            fused = ops.roi_fuse(p1, p2, p3, rois, s1, tuple(float(v) for v in self.meta.strides))
            probs = sigmoid(self.tail.run(None, {"rois": fused})[0])[:, 0]
        else:
            probs = np.zeros((0, 2 * s1, 2 * s1), np.float32)
        t4 = time.perf_counter()
        mask_boxes = (net_boxes / scale).astype(np.float32)
        masks = paste_masks(probs, mask_boxes, h, w)
        t5 = time.perf_counter()
        out_boxes = mask_boxes.copy()
        out_boxes[:, 0::2] = np.clip(out_boxes[:, 0::2], 0, w)
        out_boxes[:, 1::2] = np.clip(out_boxes[:, 1::2], 0, h)
        if box_source == "mask" and k:
            out_boxes = boxes_of_masks(masks, out_boxes)
        if timings is not None:
            for name, v in (("preprocess", t1 - t0), ("frame", t2 - t1), ("select", t3 - t2),
                            ("rff_tail", t4 - t3), ("paste", t5 - t4), ("total", t5 - t0)):
                timings.setdefault(name, []).append(1000 * v)
            timings.setdefault("instances", []).append(k)
            timings.setdefault("input", []).append([ph, pw])
        return {"boxes": out_boxes, "scores": sel.scores, "labels": sel.labels, "masks": masks}


def boxes_of_masks(masks, fallback):
    """The tight box of each mask (pixel edges); the fallback box for an empty one."""
    out = fallback.copy()
    for i, mask in enumerate(masks):
        box = tight_box(mask)
        if box is not None:
            out[i] = box
    return out


def compact(pred):
    """The prediction with its masks as COCO RLEs and its boxes from the masks
    beside the regressed ones (full-frame masks of ~1000 detections would
    hold gigabytes)."""
    from pycocotools import mask as mask_utils

    masks = pred.pop("masks")
    pred["mask_boxes"] = boxes_of_masks(masks, pred["boxes"]) if len(masks) else pred["boxes"]
    pred["rles"] = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8))) if len(masks) else []
    return pred


def evaluate(args):
    from fassst_rt.opencv_io import read_image
    from fassst_rt.segmenter import Segmenter
    from fassst_rt.train.evaluate import evaluate_by_group, format_table, load_gt

    gt = load_gt(args.ann)
    images = sorted(gt.dataset["images"], key=lambda im: im["id"])
    frames = {im["id"]: read_image(os.path.join(args.images, im["file_name"])) for im in images}
    runner = DenseRunner(args.stride_grid, args.model, args.threads, args.score_threshold,
                         nms_threshold=args.nms_threshold, max_instances=args.max_instances)
    report = {"ann": args.ann, "stride_grid": args.stride_grid, "model": args.model, "runs": [],
              "score_threshold": args.score_threshold, "nms_threshold": args.nms_threshold,
              "command": " ".join(sys.argv), "load_before": os.getloadavg()}
    configs = [("one pass", s) for s in args.scales] + [("tiled", t) for t in args.tiles]
    for kind, value in configs:
        preds, timings = [], {}
        if kind == "tiled":
            seg = Segmenter(args.model, device="cpu", score_threshold=args.score_threshold,
                            tile=tuple(int(v) for v in value.split(":")), num_threads=args.threads)
        for im in images:
            frame = frames[im["id"]]
            if kind == "one pass":
                p = dict(image_id=im["id"], **runner.run(frame, value, "regressed", timings))
            else:
                r = seg.run(frame)
                p = {"image_id": im["id"], "boxes": r.boxes, "scores": r.scores, "labels": r.labels,
                     "masks": r.masks}
            preds.append(compact(p))
        for box_source in ("regressed", "mask"):
            if box_source == "mask":
                preds = [dict(p, boxes=p["mask_boxes"]) for p in preds]
            res = evaluate_by_group(gt, preds, key="dataset",
                                    iou_types=("bbox", "segm") if box_source == "regressed" else ("bbox",))
            title = "{} {} boxes {}".format(kind, "scale {}".format(value) if kind == "one pass"
                                            else "tile " + value, box_source)
            print(format_table(res, title=title), flush=True)
            report["runs"].append({"kind": kind, "value": value, "boxes": box_source,
                                   "results": _jsonable(res),
                                   "mean_ms": {k: float(np.mean(v)) for k, v in timings.items() if k != "input"}})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if np.isnan(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def timing(args):
    """Side by side, alternating blocks: the tiled runtime (masks pasted) and
    the one-pass runner at each scale; medians."""
    from fassst_rt.opencv_io import read_image
    from fassst_rt.segmenter import Segmenter

    frame = read_image(args.frame)
    runner = DenseRunner(args.stride_grid, args.model, args.threads, 0.3)
    seg = Segmenter(args.model, device="cpu", num_threads=args.threads)
    names = ["tiled (runtime defaults)"] + ["one pass x{}".format(s) for s in args.scales]
    extra = {}
    for path in args.extra_stride_grid:
        name = "one pass x{} {}".format(args.scales[-1], os.path.basename(path))
        extra[name] = DenseRunner(path, args.model, args.threads, 0.3)
        names.append(name)
    others = {}
    for path in args.compare:
        other = session(path, args.threads)
        inp = other.get_inputs()[0]
        x = np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in inp.shape], dtype=np.float32)
        name = "{} model only, input {}".format(os.path.basename(path), "x".join(str(d) for d in x.shape[2:]))
        others[name] = (other, {inp.name: x})
        names.append(name)
    times = {n: [] for n in names}
    stages = {n: {} for n in names[1:]}

    def once(name):
        t0 = time.perf_counter()
        if name in others:
            sess, feed = others[name]
            sess.run(None, feed)
            n = 0
        elif name in extra:
            n = len(extra[name].run(frame, args.scales[-1], timings=stages[name])["scores"])
        elif name == names[0]:
            r = seg.run(frame)
            _ = r.masks
            n = len(r.scores)
        else:
            s = float(name.split("x")[-1])
            n = len(runner.run(frame, s, timings=stages[name])["scores"])
        return 1000 * (time.perf_counter() - t0), n

    counts = {}
    for block in range(args.blocks):
        for name in names:
            once(name)  # discarded: the previous session's threads
            for _ in range(3):
                ms, n = once(name)
                times[name].append(ms)
                counts[name] = n
    out = {"frame": args.frame, "threads": args.threads, "load_before": os.getloadavg(), "results": {}}
    for name in names:
        row = {"median_ms": float(np.median(times[name])), "p90_ms": float(np.percentile(times[name], 90)),
               "instances": counts[name], "runs": len(times[name])}
        if name in stages and name not in others:
            row["stages_median_ms"] = {k: float(np.median(v)) for k, v in stages[name].items()
                                       if k not in ("input", "instances")}
            row["input"] = stages[name]["input"][0]
        out["results"][name] = row
        print(name, json.dumps(row))
    out["load_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


def quantize(args):
    """The stride-grid frame graph in 8 bits for ONNX Runtime's CPU kernels
    (U8 activations, S8 per-channel weights, QDQ; the grid pooling's MatMuls,
    the IAM's predictor and the box decoding stay float), calibrated on whole training frames at
    the given scale. A speed probe: fassst-rt quantize (docs/quantization.md)
    does this for the S x S form with more care (layer sensitivity)."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from fassst_rt.opencv_io import read_image
    from fassst_rt.train.evaluate import load_gt

    runner = DenseRunner(args.stride_grid, args.model, 1)
    gt = load_gt(args.calib_ann)
    names = [gt.imgs[i]["file_name"] for i in sorted(gt.imgs)]
    picked = [names[int(round(i * (len(names) - 1) / max(args.calib_frames - 1, 1)))]
              for i in range(args.calib_frames)]
    inputs = [runner.network_input(read_image(os.path.join(args.images, n)), args.scale)[0] for n in picked]
    shape = tuple(max(x.shape[d] for x in inputs) for d in range(4))
    padded = []
    for x in inputs:   # one shape for the calibrator: pad with the normalised pad value
        canvas = np.empty(shape, np.float32)
        canvas[...] = ((114 - runner.mean) / runner.std)[None, :, None, None]
        canvas[:, :, :x.shape[2], :x.shape[3]] = x
        padded.append(canvas)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(padded)

        def get_next(self):
            x = next(self.items, None)
            return None if x is None else {"images": x}

    import tempfile

    pre = os.path.abspath(args.output + ".pre.onnx")
    source, here = os.path.abspath(args.stride_grid), os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:   # ONNX Runtime's pre-processing writes temporaries to the cwd
        os.chdir(scratch)
        try:
            quant_pre_process(source, pre, skip_symbolic_shape=True)
        finally:
            os.chdir(here)
    graph = onnx.load(pre).graph
    keep_float = [n.name for n in graph.node if n.op_type == "MatMul"]   # the grid pooling
    # the IAM predictor and what consumes its output (box decoding, sigmoid) stay float
    tensors = {o for n in graph.node if n.op_type == "Conv" for o in n.output
               if o.endswith("predict/Conv_output_0")}
    for n in graph.node:   # topological order: a consumer comes after its producers
        if any(o in tensors for o in n.output) or any(i in tensors for i in n.input):
            keep_float.append(n.name)
            tensors.update(n.output)
    quantize_static(pre, args.output, Reader(), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=False,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=keep_float,
                    calibrate_method=CalibrationMethod.MinMax, extra_options={"WeightSymmetric": True})
    os.remove(pre)
    with open(args.stride_grid + ".json") as f:
        info = json.load(f)
    info.update(int8={"calibration": picked, "scale": args.scale})
    with open(args.output + ".json", "w") as f:
        json.dump(info, f)
    print(json.dumps(info))


def init_checkpoint(args):
    """A checkpoint to warm-start `fassst-rt train --resume` from: the
    exported model's weights in a model of another input size and S (the
    same cell when input_size / S is kept), BatchNorm statistics measured on
    training tiles so that training mode normalises as the network was
    trained (eval mode: exactly the exported function)."""
    import torch

    from fassst_rt.opencv_io import read_image
    from fassst_rt.processing import letterbox, to_network_input
    from fassst_rt.train.checkpoint import save_checkpoint
    from fassst_rt.train.evaluate import load_gt
    from fassst_rt.train.network import build_model
    from fassst_rt.train.stride_grid import batchnorm_after, load_onnx_weights

    meta = read_metadata(args.model)
    cfg = model_config_from_files(meta, args.model).replace(input_size=args.input_size, S=args.S)
    model = build_model(cfg)
    load_onnx_weights(model, args.model, tail_onnx_path(args.model))
    model.eval()
    gt = load_gt(args.calib_ann)
    rng = np.random.default_rng(0)
    images = rng.choice(sorted(gt.imgs), size=min(args.calib_images, len(gt.imgs)), replace=False)
    batch = []
    for i in images:
        im = read_image(os.path.join(args.images, gt.imgs[int(i)]["file_name"]))
        if im.ndim == 2:
            im = np.repeat(im[:, :, None], 3, axis=2)
        canvas = letterbox(im, args.input_size).image
        batch.append(to_network_input(canvas, meta.mean, meta.std, bgr=True)[0])
    x = torch.from_numpy(np.stack(batch))
    followers = batchnorm_after(model)
    sums = {}
    hooks = [conv.register_forward_hook(lambda mod, i, o: sums.setdefault(mod, []).append(o.detach()))
             for conv in followers]
    with torch.no_grad():
        for start in range(0, len(x), 16):
            model.forward_frame(x[start:start + 16])
    for h in hooks:
        h.remove()
    with torch.no_grad():
        for conv, bn in followers.items():
            if conv not in sums:
                continue
            z = torch.cat(sums[conv])
            mean = z.mean(dim=(0, 2, 3))
            var = z.var(dim=(0, 2, 3), unbiased=False)
            folded_bias = bn.bias.clone()
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(mean + folded_bias)
    if args.tail_channels and args.tail_channels != cfg.tail_channels:
        # A narrower tail for dense frames: everything else carried over, the
        # tail freshly initialised (it is trained from scratch by the fine-tune).
        cfg = cfg.replace(tail_channels=args.tail_channels)
        narrow = build_model(cfg)
        kept = {k: v for k, v in model.state_dict().items() if not k.startswith("tail.")}
        missing = narrow.load_state_dict(kept, strict=False).missing_keys
        assert all(k.startswith("tail.") for k in missing), missing
        model = narrow
    save_checkpoint(args.output, model, cfg, {"init_from": args.model}, 0, 0, None, None, {})
    print(json.dumps({"checkpoint": args.output, "input_size": cfg.input_size, "S": cfg.S,
                      "calibration_images": len(x)}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--model", default=os.path.join(REPO, "engines", "fassst_default.onnx"))
    e.add_argument("-o", "--output", required=True)
    qz = sub.add_parser("quantize")
    qz.add_argument("--stride-grid", required=True)
    qz.add_argument("--model", default=os.path.join(REPO, "engines", "fassst_default.onnx"))
    qz.add_argument("--calib-ann", required=True)
    qz.add_argument("--images", required=True)
    qz.add_argument("--calib-frames", type=int, default=4)
    qz.add_argument("--scale", type=float, default=1.5)
    qz.add_argument("-o", "--output", required=True)
    c = sub.add_parser("init-checkpoint")
    c.add_argument("--model", default=os.path.join(REPO, "engines", "fassst_default.onnx"))
    c.add_argument("--input-size", type=int, required=True)
    c.add_argument("--S", type=int, required=True)
    c.add_argument("--calib-ann", required=True)
    c.add_argument("--images", required=True)
    c.add_argument("--calib-images", type=int, default=64)
    c.add_argument("--tail-channels", type=int, default=0,
                   help="a tail of this many channels, freshly initialised (default: the model's own tail)")
    c.add_argument("-o", "--output", required=True)
    v = sub.add_parser("eval")
    t = sub.add_parser("time")
    for q in (v, t):
        q.add_argument("--stride-grid", required=True)
        q.add_argument("--model", default=os.path.join(REPO, "engines", "fassst_default.onnx"))
        q.add_argument("--scales", type=float, nargs="*", default=[1.0])
        q.add_argument("--threads", type=int, default=2)
        q.add_argument("--json")
    v.add_argument("--ann", required=True)
    v.add_argument("--images", required=True)
    v.add_argument("--tiles", nargs="*", default=[], help="SIZE:OVERLAP of tiled runs to compare")
    v.add_argument("--score-threshold", type=float, default=0.05)
    v.add_argument("--max-instances", type=int, default=2000)
    v.add_argument("--nms-threshold", type=float, default=0.5, help="of the one-pass runs (tiled: the model's)")
    t.add_argument("--frame", required=True)
    t.add_argument("--blocks", type=int, default=5)
    t.add_argument("--compare", nargs="*", default=[], help="other ONNX models, timed model-only on random input")
    t.add_argument("--extra-stride-grid", nargs="*", default=[],
                   help="more stride-grid frame graphs (e.g. 8-bit) of the same --model, at the last scale")
    args = p.parse_args()
    {"export": export, "eval": evaluate, "time": timing, "init-checkpoint": init_checkpoint,
     "quantize": quantize}[args.cmd](args)


if __name__ == "__main__":
    main()
