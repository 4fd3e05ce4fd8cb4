"""fps.py's command line."""

import argparse
from typing import Optional, Sequence

from .frames import SOURCES
from .models import ARCHS
from .modes import DEVICES
from .whole_frame import README_FRAME


def build_parser(description: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="cpu/cuda: measure here; 1080ti/xavier/orin: measure for real on that device, "
                             "elsewhere measure here and print a roofline ESTIMATE for it")
    parser.add_argument("--model", help="NAME.onnx or NAME.plan (default: engines/fassst_default.onnx, else the "
                                        "tiny test model)")
    parser.add_argument("--arch", choices=ARCHS, help="time a random-weight model of this architecture instead "
                                                     "(needs PyTorch)")
    parser.add_argument("--backend", default="auto", help="auto (from the suffix), onnxruntime or tensorrt")
    parser.add_argument("--size", type=int, help="input size (with --arch; otherwise must match the model's)")
    parser.add_argument("--frames", type=int, default=100, help="timed frames (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up frames (default 10)")
    parser.add_argument("--instances", type=int, default=8, help="K instances per frame (default 8)")
    parser.add_argument("--source", choices=SOURCES, default=None,
                        help="real: the project's test frames (`fassst-rt data fetch`); photos: scikit-image's; "
                             "synthetic: drawn shapes (default: the first available of these)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    parser.add_argument("--precision", choices=["fp32", "fp16", "int8"], help="for the ESTIMATE (default: the "
                                                                               "device's usual one)")
    parser.add_argument("--compare", action="append", default=[], metavar="OTHER.onnx",
                        help="another instance segmentation ONNX model, timed model-only side by side")
    parser.add_argument("--compare-portable", metavar="PATH",
                        help="the portable single-graph export (default: NAME.portable.onnx beside the model)")
    parser.add_argument("--sweeps", action="store_true", help="FPS vs K, vs input size, and vs S (Table 7)")
    parser.add_argument("--sweep-k", default=None, help="K values (default 0,1,2,4,8,16,n)")
    parser.add_argument("--sweep-sizes", default="320,416,512,640,768")
    parser.add_argument("--sweep-arch", choices=ARCHS, help="architecture of the size and S sweeps' models "
                                                            "(default: --arch, else paper)")
    parser.add_argument("--sweep-frames", type=int, default=0, help="runs per sweep point (default frames/4, >= 5)")
    parser.add_argument("--no-build", action="store_true", help="never build random-weight models (skips the "
                                                                "size/S sweeps and the paper-architecture estimate)")
    parser.add_argument("--ort-spinning", choices=["default", "on", "off"], default="default",
                        help="diagnostic: ONNX Runtime intra-op spinning (default: the backend's own setting, off)")
    parser.add_argument("--other-spinning", choices=["same", "default", "on", "off"], default="same",
                        help="ONNX Runtime intra-op spinning of the --compare models' sessions (default: as "
                             "--ort-spinning), e.g. each model in its faster setting")
    parser.add_argument("--compare-spinning", action="store_true",
                        help="diagnostic: time the whole frame with ONNX Runtime's intra-op spinning on and off, "
                             "side by side")
    parser.add_argument("--whole-frame", nargs="?", const=README_FRAME, metavar="IMAGE",
                        help="instead: this real frame (default the README's, HeLa t15) through each model's own "
                             "defaults (tiling or one pass), masks pasted, beside the --compare models timed "
                             "network-only at their own input shape")
    parser.add_argument("--models", nargs="+", metavar="NAME.onnx",
                        help="with --whole-frame: the models run (default the shipped dense int8, dense and "
                             "default engines)")
    parser.add_argument("--blocks", type=int, default=6,
                        help="with --whole-frame: alternating blocks of 3 timed runs per model (default 6)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--plot", metavar="PNG", help="draw FPS vs K and vs input size here (implies --sweeps)")
    return parser


def parse_args(argv: Sequence[str], description: Optional[str] = None) -> argparse.Namespace:
    args = build_parser(description).parse_args(list(argv))
    if args.plot:
        args.sweeps = True
    return args
