"""Writes tests/data/tiny/tiny.onnx (+ tiny.tail.onnx): a tiny FASSST with
random weights (seed 0), for runtime tests that must run without PyTorch
(Python 3.8). Random weights are enough there: the tests check the pipeline's
contract and parity, not accuracy (threshold 0 turns every grid cell into an
instance). Regenerate with:  python tools/make_test_model.py"""

import os
import sys
import tempfile

import numpy as np
import torch

from fassst_rt.train.checkpoint import save_checkpoint
from fassst_rt.train.config import ModelConfig
from fassst_rt.train.export import export_checkpoint
from fassst_rt.train.network import FASSST

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "tiny",
                   "tiny.onnx")
CONFIG = dict(input_size=128, width_mult=0.35, S=6, num_classes=2, M=16, tail_channels=16, S1=16,
              iam_channels=32, class_names=["disc", "square"])


def main() -> int:
    torch.manual_seed(0)
    config = ModelConfig(**CONFIG)
    model = FASSST(config)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (96, 160, 3), dtype=np.uint8),
              rng.integers(0, 256, (200, 120, 3), dtype=np.uint8)]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = save_checkpoint(os.path.join(tmp, "tiny.pt"), model, config)
        export_checkpoint(checkpoint, OUT, check_frames=frames, score_threshold=0.3,
                          uint16={"kind": "percentile", "low": 0.5, "high": 99.5},
                          provenance={"note": "random weights, seed 0, for tests only"})
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
