"""``fassst-rt build NAME.onnx -o NAME.plan``: TensorRT engines for this GPU
(fassst_rt/tensorrt/build.py does the work; TensorRT is imported only when a
build starts, so ``--help`` and the error that names what is missing work
without it)."""

import argparse
import functools

from ..tensorrt.plan import DEFAULT_MAX_BATCH, DEFAULT_WORKSPACE_MB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("onnx", help="NAME.onnx exported by `fassst-rt export` (NAME.tail.onnx beside it)")
    parser.add_argument("-o", "--output", help="NAME.plan to write (default: beside the ONNX file); "
                        "NAME.tail.plan and NAME.plan.json are written beside it")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--fp16", dest="precision", action="store_const", const="fp16",
                           help="FP16 engines (default on GPUs with fast FP16: Xavier, Orin, Turing+)")
    precision.add_argument("--fp32", dest="precision", action="store_const", const="fp32",
                           help="FP32 engines, TF32 off (default on compute capability 6.1, e.g. GTX 1080 Ti)")
    precision.add_argument("--int8", dest="precision", action="store_const", const="int8",
                           help="INT8 engines from a model made by `fassst-rt quantize --target tensorrt` "
                                "(the default for such a model)")
    parser.add_argument("--workspace", type=int, default=DEFAULT_WORKSPACE_MB, metavar="MB",
                        help="builder workspace limit in MB (default %(default)s)")
    parser.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                        help="most frames or tiles per frame-engine call (default %(default)s; more run in chunks)")
    parser.add_argument("--device", type=int, default=0, help="CUDA device index (default 0)")
    parser.add_argument("--cache-dir", default=None,
                        help="engine and timing cache (default $FASSST_RT_CACHE/tensorrt or ~/.cache/fassst_rt/tensorrt)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor fill the engine cache")
    parser.add_argument("--force", action="store_true", help="build even when up to date or cached")


def run(args: argparse.Namespace) -> int:
    from ..tensorrt.build import build_engines

    return build_engines(args.onnx, output=args.output, precision=args.precision, workspace_mb=args.workspace,
                         max_batch=args.max_batch, device=args.device, cache_dir=args.cache_dir,
                         no_cache=args.no_cache, force=args.force, report=functools.partial(print, flush=True))
