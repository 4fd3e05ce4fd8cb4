"""The pieces the Python runtime moved into the C++ core (tiling,
normalisation, sigmoid, the 16-bit mapping) against the NumPy formulas they
replaced: the port changed where the arithmetic lives, not its results."""

import numpy as np
import pytest

from fassst_rt import _C, processing, tiling
from fassst_rt.input_mapping import map_to_uint8


def _python_starts(length, size, overlap):  # the NumPy-era fassst_rt/tiling.py
    if length <= size:
        return [0]
    count = -(-(length - overlap) // (size - overlap))
    span = length - size
    return [int(round(i * span / (count - 1))) for i in range(count)]


def _python_grid(height, width, size, overlap):
    ys, xs = _python_starts(height, size, overlap), _python_starts(width, size, overlap)

    def cores(starts, length):
        ends = [min(s + size, length) for s in starts]
        lo = [0.0] + [(ends[i - 1] + starts[i]) / 2.0 for i in range(1, len(starts))]
        hi = lo[1:] + [float(length)]
        return ends, lo, hi

    y_ends, cy0, cy1 = cores(ys, height)
    x_ends, cx0, cx1 = cores(xs, width)
    return [(y, x, ye, xe, a, b, c, d) for y, ye, a, c in zip(ys, y_ends, cy0, cy1)
            for x, xe, b, d in zip(xs, x_ends, cx0, cx1)]


def _python_in_core(boxes, t):
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    last_x, last_y = t[7] >= t[3], t[6] >= t[2]
    inside_x = (cx >= t[5]) & ((cx < t[7]) | (last_x & (cx <= t[7])))
    inside_y = (cy >= t[4]) & ((cy < t[6]) | (last_y & (cy <= t[6])))
    return inside_x & inside_y


def test_tile_grid_and_in_core_equal_the_numpy_version():
    rng = np.random.default_rng(1)
    for _ in range(100):
        size = int(rng.integers(32, 300))
        overlap = int(rng.integers(0, size))
        h, w = (int(v) for v in rng.integers(1, 2000, 2))
        want = _python_grid(h, w, size, overlap)
        got = tiling.tile_grid(h, w, size, overlap)
        assert [tuple(t) for t in got] == want, (h, w, size, overlap)
        centres = rng.uniform(0, [w, h], (64, 2)).astype(np.float32)
        boxes = np.concatenate([centres - 2, centres + 2], 1).astype(np.float32)
        for t in got[:4]:
            np.testing.assert_array_equal(tiling.in_core(boxes, t), _python_in_core(boxes, tuple(t)))


def test_to_network_input_equals_the_numpy_formula():
    rng = np.random.default_rng(2)
    canvas = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    for bgr in (True, False):
        rgb = canvas[:, :, ::-1] if bgr else canvas
        chw = rgb.transpose(2, 0, 1).astype(np.float32) * np.float32(1.0 / 255.0)
        want = ((chw - np.asarray(mean, np.float32).reshape(3, 1, 1))
                / np.asarray(std, np.float32).reshape(3, 1, 1))[None]
        np.testing.assert_array_equal(processing.to_network_input(canvas, mean, std, bgr=bgr), want)


def test_sigmoid_is_the_float64_formula_rounded_once():
    rng = np.random.default_rng(4)
    x = np.concatenate([np.linspace(-100, 100, 20001), rng.standard_normal(20000) * 1e-4]).astype(np.float32)
    want = (1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -80.0, 80.0)))).astype(np.float32)
    got = processing.sigmoid(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    # the > 0.5 decision (paste's threshold) follows the logit's sign but for
    # logits so small that 1/(1+e^-x) rounds to exactly 0.5
    assert not np.any((got > 0.5) & (x <= 0))


@pytest.mark.parametrize("rule", [{"kind": "percentile", "low": 0.5, "high": 99.5},
                                  {"kind": "percentile", "low": 2.0, "high": 98.0},
                                  {"kind": "window", "min": 100, "max": 40000}])
def test_uint16_mapping_equals_the_python_rule(rule):
    rng = np.random.default_rng(3)
    frame = rng.gamma(2.0, 3000.0, (61, 83)).clip(0, 65535).astype(np.uint16)
    if rule["kind"] == "percentile":
        got = _C.map_uint16_to_uint8(frame, "percentile", rule["low"], rule["high"])
    else:
        got = _C.map_uint16_to_uint8(frame, "window", rule["min"], rule["max"])
    np.testing.assert_array_equal(got, map_to_uint8(frame, rule))
