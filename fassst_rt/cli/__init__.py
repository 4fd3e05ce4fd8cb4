"""``fassst-rt``: the command line. Each verb is one module of this package
(``fassst_rt.cli.segment`` for ``fassst-rt segment``, ...) exposing
``add_arguments(parser)`` and ``run(args) -> int``. Only the verb being run is
imported, and the verb modules import what they drive (PyTorch, TensorRT,
pycocotools) inside ``run``: ``segment`` and ``info`` need neither PyTorch nor a
Python newer than 3.8, and every verb's ``--help`` works where its dependencies
are missing.

Errors print as one line (``fassst-rt VERB: error: ...``) unless ``--debug``.
"""

import argparse
import importlib
import sys
from typing import List, Optional

# verb -> (module, one-line help)
VERBS = {
    "segment": ("fassst_rt.cli.segment", "segment an image, a folder, a video or a camera"),
    "track": ("fassst_rt.cli.track", "segment and track a video, a camera or a stream (ids across frames)"),
    "info": ("fassst_rt.cli.info", "show a model's metadata, graphs' inputs and outputs, classes and file sizes"),
    "export": ("fassst_rt.cli.export", "export a checkpoint to NAME.onnx + NAME.tail.onnx"),
    "quantize": ("fassst_rt.cli.quantize", "an INT8 model (CPU or TensorRT form) calibrated on real frames"),
    "build": ("fassst_rt.cli.build", "build TensorRT engines from an exported ONNX model"),
    "export-triton": ("fassst_rt.cli.export_triton", "a Triton Inference Server model repository of a model"),
    "train": ("fassst_rt.cli.train", "train a model (PyTorch)"),
    "eval": ("fassst_rt.cli.eval", "COCO bbox/segm AP of a model on a data set"),
    "data": ("fassst_rt.cli.data", "fetch and convert the real data sets"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fassst-rt", description="fassst_rt: real-time instance segmentation (FASSST).",
        epilog="verbs:\n" + "\n".join("  {:<14s}{}".format(v, h) for v, (_, h) in VERBS.items()),
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
        parser = argparse.ArgumentParser(prog="fassst-rt " + verb, description=help_text)
        module.add_arguments(parser)
        args = parser.parse_args(rest)
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("fassst-rt {}: interrupted".format(verb), file=sys.stderr)
        return 130
    except ImportError as exc:
        if debug:
            raise
        print(_missing_dependency(verb, exc), file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line unless --debug
        if debug:
            raise
        print("fassst-rt {}: error: {}".format(verb, exc), file=sys.stderr)
        return 1


# verb -> what provides the packages it imports (pyproject's extras)
_INSTALL_HINTS = {
    "segment": "install fassst_rt[cpu] (or [gpu]); --ray needs fassst_rt[ray]",
    "info": "install fassst_rt[cpu] (or [gpu])",
    "export": "install fassst_rt[train] on Python >= 3.10",
    "train": "install fassst_rt[train] on Python >= 3.10",
    "eval": "install fassst_rt[cpu,data] (or [gpu,data])",
    "data": "install fassst_rt[data]",
    "quantize": "install fassst_rt[cpu,quantize] (onnx and onnxruntime)",
    "build": "install TensorRT and cuda-python (docs/tensorrt.md)",
    "export-triton": "install fassst_rt[cpu] (or [gpu])",
}


def _missing_dependency(verb: str, exc: ImportError) -> str:
    return "fassst-rt {}: needs a dependency that is missing ({}); {}".format(
        verb, exc, _INSTALL_HINTS.get(verb, "see the README"))
