"""The shipped model's training recipe (engines/fassst_default.train.json) is a
valid config and describes the architecture of the shipped model itself."""

import os

import pytest

from fassst_rt import Segmenter

pytest.importorskip("torch")
from fassst_rt.train.config import load_train_config  # noqa: E402

pytestmark = pytest.mark.train

ENGINES = os.path.join(os.path.dirname(__file__), "..", "..", "engines")


def test_recipe_matches_the_shipped_model():
    config = load_train_config(os.path.join(ENGINES, "fassst_default.train.json"))
    with Segmenter(os.path.join(ENGINES, "fassst_default.onnx")) as seg:
        md = seg.metadata
    m = config.model
    assert (m.input_size, m.S, m.M, m.S1) == (md.input_size, md.grid_size, md.mask_channels,
                                              md.roi_size)
    assert config.centre_radius == 1.5 and config.iterations == 4000
