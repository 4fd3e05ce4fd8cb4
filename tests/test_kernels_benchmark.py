"""benchmarks/kernels.py's bootstrap interval of a ratio of medians: exact on
noiseless times, around the point estimate, oriented the right way, and
narrower with more runs; and a short run of its --call-overhead timing. A
short run of the benchmark itself is in CI's last step (it needs ONNX Runtime
and a minute)."""

import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))
try:
    from kernels import call_overhead, median_ratio_interval  # noqa: E402
finally:
    sys.path.pop(0)


def test_noiseless_times_give_the_exact_ratio():
    low, high = median_ratio_interval([6.0] * 20, [0.5] * 30)
    assert low == pytest.approx(12.0) and high == pytest.approx(12.0)


def test_interval_holds_the_ratio_of_medians_and_is_oriented():
    rng = np.random.default_rng(3)
    slow = 6.0 + rng.gamma(2.0, 0.5, 60)
    fast = 0.5 + rng.gamma(2.0, 0.05, 60)
    point = np.median(slow) / np.median(fast)
    low, high = median_ratio_interval(slow, fast)
    assert low < point < high
    assert 5.0 < low and high < 20.0  # about 12, not its inverse
    inv_low, inv_high = median_ratio_interval(fast, slow)
    assert inv_high < 1.0 and inv_low == pytest.approx(1.0 / high, rel=0.05)


def test_more_runs_narrow_the_interval():
    rng = np.random.default_rng(4)

    def width(runs):
        low, high = median_ratio_interval(5.0 + rng.exponential(1.0, runs), 0.5 + rng.exponential(0.1, runs))
        return high - low

    assert width(400) < width(20)


def test_an_empty_list_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        median_ratio_interval([], [1.0])


def test_call_overhead_times_each_size_cold_and_warm():
    medians = call_overhead(runs=5, evict_bytes=1 << 20)
    assert sorted(medians) == ["K=0, cold", "K=0, warm", "K=1, cold", "K=1, warm"]
    # microseconds: above zero, and far below a second
    assert all(0.0 < us < 1e6 for us in medians.values()), medians
