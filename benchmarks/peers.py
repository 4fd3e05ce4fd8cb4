"""YOLO11n-seg, built by Ultralytics from its bundled model config (random
weights: they time the same as trained ones), exported to ONNX at our input
size, then timed side by side with our model by benchmarks/fps.py --compare.

    python benchmarks/peers.py                          # 416, then fps.py --device cpu --compare it
    python benchmarks/peers.py --size 416 -- --arch cpu_small --instances 8 --json out.json
    python benchmarks/peers.py --export-only            # just print the ONNX path
    python benchmarks/peers.py --size 704x1120 --export-only   # a rectangular input (H x W): the README
                                                        # frame's 1100 x 700 rounded up to YOLO's stride 32;
                                                        # timed by benchmarks/fps.py --whole-frame --compare
    python benchmarks/peers.py --size 704x1120 --export-only --int8 FRAMES   # and its 8-bit form

Optional and outside CI. Ultralytics lives in its own virtual environment
(--venv, default .venv-peers; created on first use), never in the project's;
nothing of it is committed. Ultralytics needs torchvision: install CPU builds
of the torch 2.14.1 + torchvision 0.29.1 pair into the venv yourself (this
script refuses to pip-install torch, whose default build pulls gigabytes of
CUDA libraries); it installs ultralytics and onnx. The exported graph goes to
~/.cache/fassst_rt/peers/ (--out). Ultralytics' run-time auto-install is
switched off (YOLO_AUTOINSTALL=false): whatever the export needs is
installed here, up front.

Arguments after "--" go to fps.py (default: --device cpu).
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PACKAGES = ["torch==2.14.1", "torchvision==0.29.1", "ultralytics", "onnx"]

EXPORT = r"""
import json, os, sys
from ultralytics import YOLO
import ultralytics, torch, torchvision
size, out = json.loads(sys.argv[1]), sys.argv[2]
model = YOLO("yolo11n-seg.yaml")          # the bundled config: random weights, nothing downloaded
path = model.export(format="onnx", imgsz=size, opset=17, dynamic=False, simplify=False, batch=1, device="cpu")
info = {"model": "YOLO11n-seg from ultralytics' bundled yolo11n-seg.yaml, random weights",
        "imgsz": size, "opset": 17, "parameters": sum(p.numel() for p in model.model.parameters()),
        "versions": {"ultralytics": ultralytics.__version__, "torch": torch.__version__,
                     "torchvision": torchvision.__version__}}
with open(out[:-5] + ".json", "w") as f:
    json.dump(info, f, indent=2)
os.replace(str(path), out)
print(json.dumps(info))
"""


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def ensure_venv(venv, python):
    """The peers environment, Ultralytics installed into it. PyTorch and
    torchvision are never installed here: the default build of torch pulls
    gigabytes of CUDA libraries; install a CPU build of the PACKAGES' torch
    pair into the venv first (the message says so)."""
    py = venv_python(venv)
    if not os.path.exists(py):
        print("peers.py: creating {} with {}".format(venv, python), file=sys.stderr)
        subprocess.check_call([python, "-m", "venv", venv])
        subprocess.check_call([py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    torch_probe = subprocess.run([py, "-c", "import torch, torchvision"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, universal_newlines=True)
    if torch_probe.returncode != 0:
        raise SystemExit("peers.py: {} has no working torch + torchvision ({}); install CPU builds of {} "
                         "into it first (a plain pip install of torch pulls CUDA libraries)".format(
                             venv, (torch_probe.stderr.strip().splitlines() or ["?"])[-1], " and ".join(PACKAGES[:2])))
    probe = subprocess.run([py, "-c", "import ultralytics, onnx"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        print("peers.py: installing {} into {}".format(" ".join(PACKAGES[2:]), venv), file=sys.stderr)
        subprocess.check_call([py, "-m", "pip", "install", "--quiet"] + PACKAGES[2:])
    return py


def parse_size(text):
    """416 (square) or HxW, e.g. 704x1120; multiples of 32 (YOLO11's stride)."""
    parts = text.lower().split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if len(dims) not in (1, 2) or any(d < 32 or d % 32 for d in dims):
        raise argparse.ArgumentTypeError("--size must be N or HxW, multiples of 32 >= 32, got {!r}".format(text))
    return dims[0] if len(dims) == 1 else dims


def size_name(size):
    return str(size) if isinstance(size, int) else "{}x{}".format(*size)


def export(py, size, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "yolo11n-seg_{}.onnx".format(size_name(size)))
    if os.path.isfile(out):
        return out
    env = dict(os.environ, YOLO_AUTOINSTALL="false", YOLO_OFFLINE="true")
    # A scratch working directory: Ultralytics writes settings and the export beside it. The export
    # lands there and is moved into place here, its description first and the graph (whose presence
    # means "exported") last (fassst_rt/atomic.py; the peers environment has no fassst_rt).
    from fassst_rt.atomic import move_into_place

    work = os.path.join(out_dir, "work")
    os.makedirs(work, exist_ok=True)
    scratch = os.path.join(work, os.path.basename(out))
    subprocess.check_call([py, "-c", EXPORT, json.dumps(size), scratch], cwd=work, env=env)
    move_into_place(scratch[:-5] + ".json", out[:-5] + ".json")
    move_into_place(scratch, out)
    return out


def quantize_peer(onnx_path, size, calib):
    """The peer's export in 8 bits, with the settings of fassst-rt quantize's
    cpu target, calibrated on real frames resized to its input (RGB / 255,
    Ultralytics' preprocessing). Its weights are random, so only its speed
    means anything."""
    import cv2
    import numpy as np
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from fassst_rt.atomic import move_into_place
    from fassst_rt.quantize.calibration import load_frames

    height, width = (size, size) if isinstance(size, int) else size
    frames = load_frames(calib, 8).frames
    inputs = []
    for frame in frames:
        rgb = frame if frame.ndim == 3 else np.repeat(frame[:, :, None], 3, axis=2)
        if rgb.dtype != np.uint8:
            rgb = cv2.normalize(rgb, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        resized = cv2.resize(np.ascontiguousarray(rgb[:, :, :3]), (width, height), interpolation=cv2.INTER_LINEAR)
        inputs.append(resized.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)

    class Reader:
        def __init__(self):
            self.items = iter(inputs)

        def get_next(self):
            x = next(self.items, None)
            return None if x is None else {"images": x}

    out = onnx_path[:-5] + "_int8.onnx"
    work = os.path.join(os.path.dirname(onnx_path), "work")
    os.makedirs(work, exist_ok=True)
    prepared = os.path.join(work, "prepared.onnx")
    scratch = os.path.join(work, os.path.basename(out))
    quant_pre_process(onnx_path, prepared)
    quantize_static(prepared, scratch, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=False, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, extra_options={"WeightSymmetric": True})
    os.remove(prepared)
    move_into_place(scratch, out)
    return out


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    fps_args = []
    if "--" in argv:
        i = argv.index("--")
        argv, fps_args = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=416, help="N or HxW (default 416)")
    parser.add_argument("--venv", default=os.path.join(REPO, ".venv-peers"))
    parser.add_argument("--python", default="python3.11", help="interpreter for a new --venv")
    parser.add_argument("--out", default=os.path.join(os.path.expanduser("~"), ".cache", "fassst_rt", "peers"))
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--int8", metavar="CALIB",
                        help="also quantize the export for ONNX Runtime's CPU kernels as fassst-rt quantize "
                             "--target cpu does (U8 activations, S8 per-channel weights, QDQ, min-max), "
                             "calibrated on up to 8 frames of CALIB (a folder, COCO .json or video): "
                             "yolo11n-seg_SIZE_int8.onnx beside it, and its path printed")
    args = parser.parse_args(argv)

    onnx_path = os.path.join(args.out, "yolo11n-seg_{}.onnx".format(size_name(args.size)))
    if not os.path.isfile(onnx_path):
        onnx_path = export(ensure_venv(args.venv, args.python), args.size, args.out)
    print(onnx_path)
    if args.int8:
        onnx_path = quantize_peer(onnx_path, args.size, args.int8)
        print(onnx_path)
    if args.export_only:
        return 0
    if "--device" not in fps_args:
        fps_args = ["--device", "cpu"] + fps_args
    if not isinstance(args.size, int):
        print("peers.py: fps.py compares square inputs; time a rectangular export with "
              "tools/dense_prototype.py time --compare {}".format(onnx_path), file=sys.stderr)
        return 0
    if "--arch" not in fps_args and "--model" not in fps_args:
        fps_args += ["--arch", "cpu_small", "--size", str(args.size)]
    cmd = [sys.executable, os.path.join(HERE, "fps.py"), "--compare", onnx_path] + fps_args
    print("peers.py: " + " ".join(cmd), file=sys.stderr)
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
