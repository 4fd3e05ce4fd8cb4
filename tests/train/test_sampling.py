"""Class-balanced repeat factors (fassst_rt.train.data.sampling) on hand-made
cases, and the trainer's epoch list built from them."""

import math

import pytest

from fassst_rt.train.data.sampling import epoch_indices, repeat_factors


def test_repeat_factors_by_hand():
    # class 0 in 4 of 5 images (f = 0.8), class 1 in 1 of 5 (f = 0.2); t = 0.8
    images = [[0], [0], [0], [0, 1], []]
    r = repeat_factors(images, 0.8)
    r1 = math.sqrt(0.8 / 0.2)  # = 2
    assert r == pytest.approx([1.0, 1.0, 1.0, r1, 1.0])


def test_common_classes_are_not_repeated():
    images = [[0], [1], [0, 1]]  # both in 2/3 of the images
    assert repeat_factors(images, 0.5) == [1.0, 1.0, 1.0]


def test_image_takes_its_rarest_class():
    images = [[0]] * 9 + [[0, 1]]
    r = repeat_factors(images, 0.4)
    assert r[-1] == pytest.approx(math.sqrt(0.4 / 0.1))
    assert r[0] == 1.0


def test_epoch_indices_counts_and_determinism():
    factors = [1.0, 2.0, 2.5, 1.0]
    a = epoch_indices(factors, seed=3)
    assert a == epoch_indices(factors, seed=3)
    assert a.count(0) == 1 and a.count(3) == 1 and a.count(1) == 2
    assert a.count(2) in (2, 3)
    # over many seeds the fractional part is honoured on average
    mean = sum(epoch_indices(factors, s).count(2) for s in range(400)) / 400
    assert mean == pytest.approx(2.5, abs=0.08)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="threshold"):
        repeat_factors([[0]], 0.0)
    with pytest.raises(ValueError, match="image 1"):
        epoch_indices([1.0, 0.5], seed=0)


def test_trainer_epoch_base_repeats_rare_class_images(tmp_path):
    import json

    from fassst_rt.train.config import TrainConfig
    from fassst_rt.train.trainer import _batches, _epoch_base

    class Data:
        def __len__(self):
            return 4

        def image_classes(self):
            return [[0], [0], [0], [1]]

    off = TrainConfig(iterations=1, out_dir=str(tmp_path))
    assert _epoch_base(Data(), off) == [0, 1, 2, 3]
    on = TrainConfig(iterations=1, out_dir=str(tmp_path), class_balance=1.0)
    base = _epoch_base(Data(), on)  # class 1: f = 1/4, r = 2
    assert sorted(base) == [0, 1, 2, 3, 3]
    batches = _batches(base, 2, seed=0, epoch=0)
    assert len(batches) == 2 and all(len(b) == 2 for b in batches)
    json.dumps(on.to_dict())  # the option is part of the saved config
