"""Roofline ESTIMATE for a device this machine is not (benchmarks/roofline.py,
benchmarks/devices.py): this model, and the paper's architecture from the
committed shape-only graphs (benchmarks/paper_graphs.py), with the paper's own
figures beside it for comparison, never for calibration."""

import os
from typing import Dict, List, Optional

from .models import tail_of
from .paths import REPO

PAPER_ROWS = ((416, 8), (416, 36), (768, 8))  # (input size, K) of the paper-architecture rows

# Beside each row's ESTIMATE, the same model in INT8 on the GPU (engines from
# `fassst-rt quantize --target tensorrt` + `fassst-rt build --int8`) on these devices.
INT8_COLUMN_DEVICES = ("xavier", "orin")
DLA_NOTE = ("INT8 column: the GPU's (TensorRT explicit quantization; the layers kept in float run in FP16). "
            "Not the DLA: Xavier's and Orin's DLAs run FP16 and INT8 but only a subset of layers, with "
            "size limits, and hand every other layer back to the GPU (GPU fallback, with a copy at each "
            "change of engine); `fassst-rt build` targets the GPU only")


def paper_figure(device: str, size: int) -> Optional[Dict[str, object]]:
    """The paper's own measurement for ``device`` at ``size``: shown beside the ESTIMATE for
    comparison, never used to calibrate it."""
    import devices as devices_mod

    p = devices_mod.PAPER
    if device == "1080ti" and size == 416:
        fps = p["fps_1080ti_416"]
        return {"fps": fps, "ms": 1e3 / fps, "what": "paper, GTX 1080 Ti, Caffe, 416, COCO, S = 6 (Table 2; "
                "precision not stated, Caffe runs FP32)"}
    if device == "1080ti" and size == 768:
        fps = p["table7_fps_city"][36]
        return {"fps": fps, "ms": 1e3 / fps, "what": "paper, GTX 1080 Ti, Caffe, 768, CityScapes, n = 36 (Table 7; "
                "its FASSST-768 at n = 49 is the quoted {} FPS)".format(p["fps_1080ti_768"])}
    if device == "xavier":
        fps = p["fps_xavier_nx"]
        return {"fps": fps, "ms": 1e3 / fps, "what": "paper, Jetson Xavier NX (CityScapes paragraph of section "
                "4.2.2): input size, S, precision, framework and power mode not stated"}
    return None


def model_row(model: str, meta, instances: int, device: str, precision: Optional[str]) -> Dict[str, object]:
    """The ESTIMATE for the timed model (its ONNX graphs)."""
    import roofline
    from fassst_rt.flops import count_graph

    frame_cost = count_graph(model, dims={"B": 1})
    tail_cost = count_graph(tail_of(model), dims={"K": max(instances, 1)})
    e = roofline.estimate(frame_cost, tail_cost, instances, meta.mask_channels, meta.roi_size, device, precision)
    e["what"] = "this model ({}, input {}, K = {})".format(os.path.basename(model), meta.input_size, instances)
    return e


def paper_rows(device: str, precision: Optional[str], notes: List[str]) -> List[Dict[str, object]]:
    """The ESTIMATE for the paper's architecture as rebuilt here, from the shape-only graphs
    committed under benchmarks/graphs (no PyTorch needed)."""
    import paper_graphs
    import roofline
    from fassst_rt.flops import count_graph

    rows = []
    for size, k in PAPER_ROWS:
        path = paper_graphs.shape_only_path(size)
        if not os.path.isfile(path) or not os.path.isfile(tail_of(path)):
            notes.append("{} is missing (python benchmarks/paper_graphs.py writes it): no paper-"
                         "architecture row at {}".format(os.path.relpath(path, REPO), size))
            continue
        e = roofline.estimate(count_graph(path, dims={"B": 1}), count_graph(tail_of(path), dims={"K": k}),
                              k, 128, 28, device, precision)
        e["what"] = ("the paper's architecture as rebuilt here (MobileNetV2 1.0, head depth 5, S = 6, "
                     "M = 128, S1 = 28; {}), input {}, K = {}".format(os.path.relpath(path, REPO), size, k))
        e["input_size"] = size
        e["paper"] = paper_figure(device, size)
        rows.append(e)
    return rows


def device_estimate(device: str, model: str, meta, instances: int, precision: Optional[str]) -> Dict[str, object]:
    """The JSON's "estimate": rows for this model (when it is ONNX) and the paper's architecture."""
    import devices as devices_mod
    import roofline

    notes = []  # type: List[str]
    rows = [model_row(model, meta, instances, device, precision)] if model.endswith(".onnx") else []
    rows += paper_rows(device, precision, notes)
    if device in INT8_COLUMN_DEVICES and precision != "int8":
        int8_rows = [model_row(model, meta, instances, device, "int8")] if model.endswith(".onnx") else []
        int8_rows += paper_rows(device, "int8", [])
        for e, q in zip(rows, int8_rows):
            e["int8"] = {"estimate_ms": q["estimate_ms"], "estimate_fps": q["estimate_fps"],
                         "estimate_ms_range": q["estimate_ms_range"], "calibration_k": q["calibration_k"],
                         "calibration_same_precision": q["calibration_same_precision"],
                         "label": q["label"]}
        notes.append(DLA_NOTE)
    for e in rows:
        e.pop("layers", None)
    notes.append("calibration: k = published latency / raw roofline of the same network rebuilt here, "
                 "on the same device and precision (python benchmarks/roofline.py --references "
                 "--device {})".format(device))
    return {"label": roofline.ESTIMATE_LABEL, "device": device, "device_name": devices_mod.DEVICES[device]["name"],
            "rows": rows, "calibration": roofline.calibration(device), "notes": notes}
