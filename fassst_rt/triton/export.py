"""``fassst-rt export-triton MODEL OUT_DIR``: a Triton model repository entry.

    OUT_DIR/NAME/config.pbtxt                Python backend, dynamic batching, IMAGE -> INSTANCES_JSON
    OUT_DIR/NAME/1/model.py                  fassst_rt/triton/python_backend_model.py
    OUT_DIR/NAME/1/fassst_serving.json       the model file's name and the Segmenter's options
    OUT_DIR/NAME/1/MODEL files               NAME.onnx + NAME.tail.onnx, or NAME.plan + NAME.tail.plan
                                             + NAME.plan.json

OUT_DIR/NAME is written in a staging folder beside it and renamed into place
when complete (fassst_rt.atomic.staged_folder): Triton polling the repository
never sees half an entry.
"""

import json
import os
import re
import shutil
from typing import Any, Dict, List, Optional

from ..atomic import staged_folder
from ..model_files import plan_paths, tail_onnx_path
from .served import INPUT, OUTPUT, SETTINGS_FILE

VERSION = "1"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def model_files(model: str) -> List[str]:
    """The files that make up ``model`` (ONNX: the frame and tail graphs;
    TensorRT: both engines and the sidecar). FileNotFoundError names a missing one."""
    if model.lower().endswith(".plan"):
        paths = plan_paths(model)
        files = [paths.frame, paths.tail, paths.sidecar]
    elif model.lower().endswith(".onnx"):
        files = [model, tail_onnx_path(model)]
    else:
        raise ValueError("MODEL must be NAME.onnx or NAME.plan, got {!r}".format(model))
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError("{}: missing (a model is {})".format(", ".join(missing), " + ".join(
            os.path.basename(f) for f in files)))
    return files


def config_text(name: str, max_batch_size: int, queue_delay_us: int, instances: int, gpu: bool) -> str:
    """config.pbtxt (protobuf text format of Triton's ModelConfig)."""
    return """name: "{name}"
backend: "python"
max_batch_size: {max_batch_size}
input [
  {{
    name: "{input}"
    data_type: TYPE_UINT8
    dims: [ -1, -1, -1 ]
  }}
]
output [
  {{
    name: "{output}"
    data_type: TYPE_STRING
    dims: [ 1 ]
  }}
]
dynamic_batching {{
  max_queue_delay_microseconds: {delay}
}}
instance_group [
  {{
    count: {instances}
    kind: {kind}
  }}
]
""".format(name=name, max_batch_size=max_batch_size, input=INPUT, output=OUTPUT, delay=queue_delay_us,
           instances=instances, kind="KIND_GPU" if gpu else "KIND_CPU")


def export_repository(model: str, out_dir: str, name: Optional[str] = None, max_batch_size: int = 8,
                      queue_delay_us: int = 2000, instances: int = 1, gpu: Optional[bool] = None,
                      options: Optional[Dict[str, Any]] = None) -> str:
    """Writes OUT_DIR/NAME (module description); returns its path. ``name``:
    the Triton model name (default: the model file's stem). ``gpu``: KIND_GPU
    instances (default: for a ``.plan`` model). ``options``: Segmenter options
    the served model uses (score_threshold, nms_threshold, max_instances, tile,
    channel_order, num_threads)."""
    files = model_files(model)
    name = name or os.path.splitext(os.path.basename(model))[0]
    if not _NAME.match(name):
        raise ValueError("name must be letters, digits, '_', '-' or '.', got {!r}".format(name))
    for label, value, low in (("max_batch_size", max_batch_size, 1), ("queue_delay_us", queue_delay_us, 0),
                              ("instances", instances, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError("{} must be an int >= {}, got {!r}".format(label, low, value))
    gpu = model.lower().endswith(".plan") if gpu is None else bool(gpu)
    settings = {"model": os.path.basename(model)}  # type: Dict[str, Any]
    settings.update({k: v for k, v in (options or {}).items() if v is not None})
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError("OUT_DIR must be a folder (a Triton model repository), got the file {}".format(out_dir))
    target = os.path.join(out_dir, name)
    with staged_folder(target) as staging:
        version = os.path.join(staging, VERSION)
        os.makedirs(version)
        for path in files:
            shutil.copyfile(path, os.path.join(version, os.path.basename(path)))
        shutil.copyfile(os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_backend_model.py"),
                        os.path.join(version, "model.py"))
        with open(os.path.join(version, SETTINGS_FILE), "w", encoding="utf-8") as f:
            json.dump(settings, f, indent=2)
        with open(os.path.join(staging, "config.pbtxt"), "w", encoding="utf-8") as f:
            f.write(config_text(name, max_batch_size, queue_delay_us, instances, gpu))
    return target
