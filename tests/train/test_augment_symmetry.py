"""The optional up-down flip and transpose keep masks on their pixels."""

import numpy as np
import pytest

from fassst_rt.data import augment as aug


def _scene():
    rng = np.random.default_rng(0)
    masks = np.zeros((2, 20, 30), np.uint8)
    masks[0, 2:7, 3:12] = 1
    masks[1, 11:19, 20:24] = 1
    image = rng.integers(0, 50, (20, 30, 3)).astype(np.uint8)
    image[masks[0] > 0, 0] = 200
    image[masks[1] > 0, 1] = 200
    return image, masks


@pytest.mark.parametrize("vflip,transpose", [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])
def test_masks_follow_the_image(vflip, transpose):
    image, masks = _scene()
    opts = {"flip_prob": 0.0, "vflip_prob": vflip, "transpose_prob": transpose,
            "crop_prob": 0.0, "jitter_prob": 0.0}
    out_img, out_masks, info = aug.augment(image, masks, np.random.default_rng(1), opts)
    expect_img, expect_masks = image, masks
    if vflip:
        expect_img, expect_masks = expect_img[::-1], expect_masks[:, ::-1]
    if transpose:
        expect_img, expect_masks = expect_img.transpose(1, 0, 2), expect_masks.transpose(0, 2, 1)
    np.testing.assert_array_equal(out_img, expect_img)
    np.testing.assert_array_equal(out_masks, expect_masks)
    # each mask still covers exactly the pixels painted for it
    np.testing.assert_array_equal(out_masks[0] > 0, out_img[:, :, 0] == 200)
    np.testing.assert_array_equal(out_masks[1] > 0, out_img[:, :, 1] == 200)
    h, w = out_img.shape[:2]
    assert info["window"] == (0, 0, w, h)


def test_disabled_symmetries_leave_the_random_stream_alone():
    image, masks = _scene()
    a = aug.augment(image, masks, np.random.default_rng(5))
    b = aug.augment(image, masks, np.random.default_rng(5), {"vflip_prob": 0.0})
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2] == b[2]
