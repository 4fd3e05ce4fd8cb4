"""Where the model runs and what the run is called: measured here (CPU or CUDA),
measured on the named device when this machine is it, or measured here with a
roofline ESTIMATE for the named device."""

import importlib.util
import os
from typing import List, NamedTuple, Optional, Tuple

DEVICES = ("cpu", "cuda", "1080ti", "xavier", "orin")
ESTIMATE_DEVICES = ("1080ti", "xavier", "orin")


class RunMode(NamedTuple):
    mode: str                    # what the JSON's "mode" says
    device: str                  # the Segmenter's device: "cpu", "cuda" or "auto"
    backend: str                 # the Segmenter's backend
    estimate_for: Optional[str]  # the device a roofline ESTIMATE is made for, if any
    on_target: bool              # this machine is the named device


def plan_run(device_arg: str, backend: str, here: Optional[str]) -> RunMode:
    """``device_arg`` is --device; ``here`` is the device this machine is (conditions.detect_device)."""
    on_target = device_arg in ESTIMATE_DEVICES and here == device_arg
    estimate_for = device_arg if device_arg in ESTIMATE_DEVICES and not on_target else None
    if on_target:
        return RunMode("measured on the device", "cuda", backend, None, True)
    if device_arg == "cuda":
        return RunMode("measured here (cuda)", "cuda", backend, None, False)
    mode = "measured here (cpu)"
    if estimate_for:
        mode = "measured here (cpu) + ESTIMATE for {}".format(estimate_for)
    return RunMode(mode, "cpu", backend, estimate_for, False)


def tensorrt_problem() -> Optional[str]:
    """None when the TensorRT backend can run here, else why not."""
    if importlib.util.find_spec("tensorrt") is None:
        return "the tensorrt Python package is not installed"
    if importlib.util.find_spec("fassst_rt.tensorrt.backend") is None:
        return "fassst_rt has no TensorRT backend yet"
    return None


def on_device(model: str, run: RunMode, device_arg: str, notes: List[str]) -> Tuple[str, RunMode]:
    """On the named device: the TensorRT engine NAME.plan (built on this device by
    `fassst-rt build`) when there is one and the TensorRT backend can run it, else ONNX
    Runtime, and the mode and notes say so."""
    plan = os.path.splitext(model)[0] + ".plan"
    trt_problem = tensorrt_problem()
    if model.endswith(".onnx") and os.path.isfile(plan) and not trt_problem:
        model = plan
    if model.endswith(".plan"):
        return model, run._replace(mode="measured on the device (TensorRT)")
    why = trt_problem or "no TensorRT engine {} beside the model (build it here: fassst-rt build {} -o {})".format(
        os.path.basename(plan), model, plan)
    notes.append("on {}, the numbers are ONNX Runtime's (CUDA provider if present), not the TensorRT "
                 "backend's: {}".format(device_arg, why))
    # ONNX Runtime: its CUDA provider when installed, else the CPU
    return model, run._replace(mode="measured on the device with ONNX Runtime, NOT TensorRT ({})".format(why),
                               device="auto")
