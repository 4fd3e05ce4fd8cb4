"""``fassst-rt info MODEL``: what a model is (metadata, graphs' inputs and
outputs, classes, file sizes). A ``.plan`` is described from its sidecar
(NAME.plan.json) alone, so it can be inspected without TensorRT or a GPU."""

import json
import os

from ..backends import open_backend


def add_arguments(parser) -> None:
    parser.add_argument("model", help="NAME.onnx or NAME.plan")
    parser.add_argument("--json", action="store_true", help="print the metadata document as JSON")


class _PlanDescription:
    """What `info` needs of a TensorRT plan, read from its sidecar."""

    name = "tensorrt"

    def __init__(self, path: str) -> None:
        from ..model_files import plan_paths
        from ..tensorrt.plan import describe, read_sidecar

        info = read_sidecar(path)
        paths = plan_paths(path)
        self.path, self.tail_path = paths.frame, paths.tail
        self.metadata = info.metadata
        self.lines = list(describe(info))

    def close(self) -> None:
        pass


def run(args) -> int:
    if args.model.endswith(".plan"):
        backend = _PlanDescription(args.model)
    else:
        backend = open_backend(args.model, device="cpu")
    m = backend.metadata
    try:
        if args.json:
            print(m.to_json())
            return 0
        files = [backend.path, getattr(backend, "tail_path", None)]
        print("model       {} ({} backend)".format(args.model, backend.name))
        for f in files:
            if f:
                print("  file      {} ({:.2f} MB)".format(f, os.path.getsize(f) / 1e6))
        for line in getattr(backend, "lines", []):
            print(line)
        mapping = "{}, mean {}, std {}".format(m.channel_order, m.mean, m.std)
        if m.grid is not None:  # stride grid: the input takes the frame's shape
            print("input       the whole frame resized by {:g}, padded right and bottom to multiples of {} px "
                  "({})".format(m.input_scale, m.grid["period"], mapping))
        else:
            print("input       {0} x {0} ({1})".format(m.input_size, mapping))
        if m.uint16_mapping:
            print("16-bit      {}".format(json.dumps(m.uint16_mapping)))
        if m.grid is not None:
            print("grid        stride: one cell per {} px of the input (trained at {} px, S = {})".format(
                m.grid["cell"], m.input_size, m.grid_size))
        else:
            print("grid        S = {} ({} instances at most per input)".format(m.grid_size, m.num_cells))
        print("masks       M = {} channels, ROI S1 = {}, box masks {}x{}, strides {}".format(
            m.mask_channels, m.roi_size, 2 * m.roi_size, 2 * m.roi_size, m.strides))
        print("classes     {}".format(", ".join("{}: {}".format(i, n) for i, n in enumerate(m.class_names))))
        print("selection   score >= {}, NMS IoU > {}, at most {}".format(
            m.score_threshold, m.nms_threshold, m.max_instances))
        if m.tile:
            print("tiling      {} px tiles, {} px overlap".format(m.tile["size"], m.tile["overlap"]))
        sessions = [("frame", getattr(backend, "frame_session", None)), ("tail", getattr(backend, "tail_session", None))]
        for name, session in sessions:
            if session is None:
                continue
            for i in session.get_inputs():
                print("{:<11s} in  {} {} {}".format(name, i.name, i.shape, i.type))
            for o in session.get_outputs():
                print("{:<11s} out {} {} {}".format(name, o.name, o.shape, o.type))
        precision = m.extra.get("precision")
        if isinstance(precision, dict):  # fassst-rt quantize
            calib = precision.get("calibration", {})
            print("precision   {} weights, {} activations (--target {}), calibrated ({}) on {} frames of {}: "
                  "{} frame-graph and {} tail inputs; in float: {}".format(
                      precision.get("weights"), precision.get("activations"), precision.get("target"),
                      calib.get("method"), len(calib.get("frames", [])), calib.get("source"),
                      calib.get("frame_inputs"), calib.get("tail_inputs"),
                      ", ".join(precision.get("float_layers", {}).get("roles", [])) or "nothing"))
        else:
            print("precision   float32")
        for key, value in sorted(m.extra.items()):
            if key != "precision":
                print("{:<11s} {}".format(key, json.dumps(value)[:200]))
    finally:
        backend.close()
    return 0
