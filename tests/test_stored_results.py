"""The shipped model gives the same instances on real frames as the stored
results (tests/reference/stored_results.py): boxes and scores to float
rounding, labels and masks exactly. The C++ example app is held to the same
file in tests/test_cpp_api.py."""

import numpy as np
import pytest

from reference import stored_results as stored

pytestmark = pytest.mark.skipif(not (stored.data_dir() / "hela_t15.png").is_file(),
                                reason="real data not fetched (fassst-rt data fetch)")


def assert_same_instances(got, want, where):
    assert got["image_size"] == want["image_size"], where
    assert len(got["labels"]) == len(want["labels"]), "{}: {} instances, stored {}".format(
        where, len(got["labels"]), len(want["labels"]))
    np.testing.assert_allclose(np.float32(got["boxes"]).reshape(-1, 4), np.float32(want["boxes"]).reshape(-1, 4),
                               rtol=1e-5, atol=1e-3, err_msg=where)
    np.testing.assert_allclose(got["scores"], want["scores"], rtol=1e-5, atol=1e-6, err_msg=where)
    assert got["labels"] == want["labels"], where
    for i, (g, w) in enumerate(zip(got["masks"], want["masks"])):
        assert g == w, "{}: instance {}'s mask differs from the stored one".format(where, i)


@pytest.mark.parametrize("case", sorted(stored.CASES))
def test_python_segmenter_equals_stored_results(case):
    want = stored.load_stored()[case]
    got = stored.compute(case)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_same_instances(g, w, "{}[{}]".format(case, i))


def test_stored_results_are_not_trivial():
    """The stored file holds many instances of both classes."""
    cases = stored.load_stored()
    labels = [lab for results in cases.values() for r in results for lab in r["labels"]]
    assert len(labels) > 400 and set(labels) == {0, 1}
