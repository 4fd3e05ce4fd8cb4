"""``fassst-rt``: the command line. Each verb lives in its own module exposing
``add_arguments(parser)`` and ``run(args) -> int``; only the verb being run is
imported (training verbs need PyTorch, the inference verbs do not).

Errors print as one line (``fassst-rt: error: ...``) unless ``--debug``.
"""

import argparse
import importlib
import sys
from typing import List, Optional

# verb -> (module, one-line help)
VERBS = {
    "segment": ("fassst_rt.cli_segment", "segment an image, a folder, a video or a camera"),
    "info": ("fassst_rt.cli_info", "show a model's inputs, outputs, classes, sizes and FLOPs"),
    "export": ("fassst_rt.train.export", "export a checkpoint to NAME.onnx + NAME.tail.onnx"),
    "build": ("fassst_rt.tensorrt.build", "build TensorRT engines from an exported ONNX model"),
    "train": ("fassst_rt.train.trainer", "train a model (PyTorch)"),
    "eval": ("fassst_rt.train.eval_cli", "COCO bbox/segm AP of a model on a data set"),
    "data": ("fassst_rt.train.data.realdata", "fetch and convert the real data sets"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fassst-rt", description="fassst_rt: real-time instance segmentation (FASSST).",
        epilog="verbs:\n" + "\n".join("  {:<9s}{}".format(v, h) for v, (_, h) in VERBS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("verb", choices=sorted(VERBS), metavar="VERB", help="what to do (see below)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    top = _top_parser()
    if not argv or argv[0] not in VERBS:
        top.parse_args(argv)  # prints help or the unknown-verb error
        return 2
    verb, rest = argv[0], argv[1:]
    module_name, help_text = VERBS[verb]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print("fassst-rt {}: needs a dependency that is missing ({}); for training verbs install "
              "fassst_rt[train] on Python >= 3.10".format(verb, exc), file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="fassst-rt " + verb, description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("fassst-rt {}: interrupted".format(verb), file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line unless --debug
        if debug:
            raise
        print("fassst-rt {}: error: {}".format(verb, exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
