"""Which model is timed: --model, the shipped model, the tiny test model, or a
random-weight model of a known architecture built with PyTorch in a subprocess
(keeps PyTorch out of the measuring process: it would inflate the peak memory)."""

import importlib.util
import os
import subprocess
import sys
from typing import Optional, Tuple

from .paths import DEFAULT_MODEL, FPS_SCRIPT, REPO, TINY_MODEL

ARCHS = ("paper", "cpu_small", "tiny")
BUILD_FLAG = "--_build"  # fps.py --_build ARCH SIZE GRID OUT: the subprocess that builds (paper_graphs.py uses it)


def tail_of(path: str) -> str:
    """NAME.tail.onnx beside NAME.onnx."""
    from fassst_rt.model_files import tail_onnx_path
    return tail_onnx_path(path)


def torch_available() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None and sys.version_info >= (3, 10)
    except Exception:
        return False


def build_timing_model(arch: str, size: int, grid: Optional[int], out_dir: str) -> str:
    """A random-weight model of ``arch`` at ``size`` (and S = ``grid``), exported with
    fassst_rt.train in a subprocess. The weights are seeded: a model already built in
    ``out_dir`` with the same arguments is the same model, and is reused."""
    name = "{}_{}{}".format(arch, size, "_S{}".format(grid) if grid else "")
    out = os.path.join(out_dir, name + ".onnx")
    if os.path.isfile(out) and os.path.isfile(tail_of(out)):
        return out
    cmd = [sys.executable, FPS_SCRIPT, BUILD_FLAG, arch, str(size), str(grid or 0), out]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=out_dir)
    if proc.returncode != 0 or not os.path.isfile(out):
        raise RuntimeError("building a random-weight {} model at {} failed:\n{}".format(
            arch, size, proc.stdout.decode(errors="replace")[-2000:]))
    return out


def build_main(arch: str, size: int, grid: int, out: str) -> int:
    """The build subprocess: export a seeded random-weight model with its metadata."""
    import torch

    from fassst_rt.hashing import sha256_file
    from fassst_rt.train.config import ModelConfig, preset
    from fassst_rt.train.export import attach_metadata, export_graphs, metadata_for
    from fassst_rt.train.network import FASSST

    cfg = ModelConfig() if arch == "paper" else preset(arch).model
    changes = {"input_size": size}
    if grid:
        changes["S"] = grid
    cfg = cfg.replace(**changes)
    torch.manual_seed(0)
    model = FASSST(cfg).eval()
    tail = export_graphs(model, out)
    attach_metadata(out, metadata_for(model, tail_sha256=sha256_file(tail),
                                      training={"note": "random weights, for timing only ({})".format(arch)}))
    return 0


def choose_model(arch: Optional[str], size: Optional[int], model: Optional[str], out_dir: str) -> Tuple[str, str]:
    """(path, how it was chosen): a random-weight ``arch`` built at ``size`` (default 416),
    else ``model``, else the shipped model, else the tiny test model."""
    if arch:
        if not torch_available():
            raise SystemExit("fps.py: --arch builds a random-weight model with PyTorch, which is not installed "
                             "here: install the train extra (`bash tools/setup.sh --dev`, Python >= 3.10), or "
                             "time an exported model with --model NAME.onnx")
        size = size or 416
        path = build_timing_model(arch, size, None, out_dir)
        return path, "random-weight {} architecture at {}, built for timing (weights do not change speed)".format(
            arch, size)
    if model:
        path, choice = model, "given with --model"
    elif os.path.isfile(DEFAULT_MODEL):
        path, choice = DEFAULT_MODEL, "the shipped model"
    else:
        path = TINY_MODEL
        choice = ("FALLBACK: {} does not exist; the tiny test model (random weights, input 128) "
                  "is timed instead".format(os.path.relpath(DEFAULT_MODEL, REPO)))
    if not os.path.isfile(path):
        raise SystemExit("fps.py: {} does not exist".format(path))
    return path, choice
