"""YOLO11n-seg, built by Ultralytics from its bundled model config (random
weights: they time the same as trained ones), exported to ONNX at our input
size, then timed side by side with our model by benchmarks/fps.py --compare.

    python benchmarks/peers.py                          # 416, then fps.py --device cpu --compare it
    python benchmarks/peers.py --size 416 -- --arch cpu_small --instances 8 --json out.json
    python benchmarks/peers.py --export-only            # just print the ONNX path

Optional and outside CI. Ultralytics lives in its own virtual environment
(--venv, default .venv-peers; created on first use with pip: ultralytics
needs torchvision, so the torch 2.14.1 + torchvision 0.29.1 pair), never in
the project's; nothing of it is committed. The exported graph goes to
~/.cache/fassst_rt/peers/ (--out). Ultralytics' run-time auto-install is
switched off (YOLO_AUTOINSTALL=false): whatever the export needs is
installed here, up front.

Arguments after "--" go to fps.py (default: --device cpu).
"""

import argparse
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
size, out = int(sys.argv[1]), sys.argv[2]
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
    py = venv_python(venv)
    if not os.path.exists(py):
        print("peers.py: creating {} with {}".format(venv, python), file=sys.stderr)
        subprocess.check_call([python, "-m", "venv", venv])
        subprocess.check_call([py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    probe = subprocess.run([py, "-c", "import ultralytics, torchvision, onnx"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        print("peers.py: installing {} into {}".format(" ".join(PACKAGES), venv), file=sys.stderr)
        subprocess.check_call([py, "-m", "pip", "install", "--quiet"] + PACKAGES)
    return py


def export(py, size, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "yolo11n-seg_{}.onnx".format(size))
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
    subprocess.check_call([py, "-c", EXPORT, str(size), scratch], cwd=work, env=env)
    move_into_place(scratch[:-5] + ".json", out[:-5] + ".json")
    move_into_place(scratch, out)
    return out


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    fps_args = []
    if "--" in argv:
        i = argv.index("--")
        argv, fps_args = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--venv", default=os.path.join(REPO, ".venv-peers"))
    parser.add_argument("--python", default="python3.11", help="interpreter for a new --venv")
    parser.add_argument("--out", default=os.path.join(os.path.expanduser("~"), ".cache", "fassst_rt", "peers"))
    parser.add_argument("--export-only", action="store_true")
    args = parser.parse_args(argv)

    py = ensure_venv(args.venv, args.python)
    onnx_path = export(py, args.size, args.out)
    print(onnx_path)
    if args.export_only:
        return 0
    if "--device" not in fps_args:
        fps_args = ["--device", "cpu"] + fps_args
    if "--arch" not in fps_args and "--model" not in fps_args:
        fps_args += ["--arch", "cpu_small", "--size", str(args.size)]
    cmd = [sys.executable, os.path.join(HERE, "fps.py"), "--compare", onnx_path] + fps_args
    print("peers.py: " + " ".join(cmd), file=sys.stderr)
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
