"""The pure-PyTorch RoIAlign / RFF (fassst_rt.train.rff) against a float64 loop
reference (tests/reference/roi_reference.py, written from the definition), and against the project's C++
kernels fassst_rt.ops.roi_crop / roi_fuse (skipped only when fassst_rt._C is
not built)."""


import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fassst_rt.train.rff import roi_align, roi_feature_fusion  # noqa: E402

pytestmark = pytest.mark.train


# The float64 loop references of the kernels' tests (tests/reference), written
# from the definition; shared, not copied.
from reference.roi_reference import roi_align as ref_crop  # noqa: E402
from reference.roi_reference import roi_fuse as ref_fuse  # noqa: E402


# --------------------------------------------------------------- inputs

def make_rois(rng, num, batch, in_h, in_w):
    """Boxes inside, partly and wholly outside, zero-size, inverted, tiny,
    and exactly on the map's edges."""
    rows = []
    for k in range(num):
        b = int(rng.integers(0, batch))
        kind = k % 7
        if kind == 0:
            x1, x2 = np.sort(rng.uniform(0, in_w, 2))
            y1, y2 = np.sort(rng.uniform(0, in_h, 2))
        elif kind == 1:
            x1, y1 = rng.uniform(-0.6 * in_w, 0.6 * in_w), rng.uniform(-0.6 * in_h, 0.6 * in_h)
            x2, y2 = x1 + rng.uniform(1, in_w), y1 + rng.uniform(1, in_h)
        elif kind == 2:
            x1, y1 = rng.uniform(1.1 * in_w, 2 * in_w), rng.uniform(-in_h, 2 * in_h)
            x2, y2 = x1 + rng.uniform(1, 40), y1 + rng.uniform(1, 40)
        elif kind == 3:
            x1, y1 = rng.uniform(0, in_w), rng.uniform(0, in_h)
            x2, y2 = x1, y1 + (0 if rng.random() < 0.5 else rng.uniform(1, 30))
        elif kind == 4:
            x2, x1 = np.sort(rng.uniform(0, in_w, 2))
            y2, y1 = np.sort(rng.uniform(0, in_h, 2))
        elif kind == 5:
            x1, y1 = rng.uniform(0, in_w), rng.uniform(0, in_h)
            x2, y2 = x1 + rng.uniform(0, 2), y1 + rng.uniform(0, 2)
        else:
            x1, y1, x2, y2 = 0.0, 0.0, float(in_w), float(in_h)
        rows.append([b, x1, y1, x2, y2])
    return np.asarray(rows, np.float32)


def pyramid(rng, batch, channels, h1, w1):
    sizes = [(h1, w1), ((h1 + 1) // 2, (w1 + 1) // 2), ((h1 + 3) // 4, (w1 + 3) // 4)]
    return [rng.standard_normal((batch, channels, h, w)).astype(np.float32) for h, w in sizes]


def tol(ref):
    return 2e-5 * max(1.0, float(np.abs(ref).max(initial=0.0)))


def maxerr(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max(initial=0.0))


def crop_t(feature, rois, size, stride):
    return roi_align(torch.from_numpy(feature), torch.from_numpy(rois), size, stride).numpy()


def fuse_t(p1, p2, p3, rois, s1, use_rff=True):
    return roi_feature_fusion(*(torch.from_numpy(p) for p in (p1, p2, p3)),
                              torch.from_numpy(rois), s1, (8, 16, 32), use_rff).numpy()


# ------------------------------------------------ against the float64 loops

@pytest.mark.parametrize("seed", range(5))
def test_roi_align_matches_float64_reference(seed):
    rng = np.random.default_rng(seed)
    batch, channels = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    h, w = int(rng.integers(1, 20)), int(rng.integers(1, 20))
    stride = [1, 4, 8, 16, 32][seed % 5]
    size = int(rng.integers(1, 9))
    feature = rng.standard_normal((batch, channels, h, w)).astype(np.float32)
    rois = make_rois(rng, 14, batch, h * stride, w * stride)
    got = crop_t(feature, rois, size, stride)
    want = ref_crop(feature, rois, size, stride)
    assert got.shape == (14, channels, size, size) and got.dtype == np.float32
    assert maxerr(got, want) <= tol(want)


def test_roi_align_edge_rules_by_hand():
    # 1 x 1 x 2 x 3 map; stride 1; one bin per box: the sample sits at the box centre - 0.5.
    f = np.array([[[[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]]]], np.float32)

    def one(x1, y1, x2, y2):
        return float(crop_t(f, np.array([[0, x1, y1, x2, y2]], np.float32), 1, 1)[0, 0, 0, 0])

    assert one(0, 0, 1, 1) == pytest.approx(1.0)                      # sample (0, 0)
    assert one(1, 0, 2, 1) == pytest.approx(2.0)                      # (0, 1)
    assert one(1, 0, 3, 2) == pytest.approx((2 + 4 + 16 + 32) / 4)     # (0.5, 1.5)
    assert one(-1, -1, 1, 1) == pytest.approx(1.0)                    # (-0.5, -0.5) clamps to 0
    assert one(-2.2, 0, -0.2, 1) == 0.0                               # x = -1.7 < -1: zero
    assert one(5, 1, 7, 3) == pytest.approx(0.0)                      # x = 5.5 > W: zero
    assert one(2, 1, 4, 3) == pytest.approx(32.0)                     # (1.5, 2.5): last row/col
    assert one(2, 1, 2, 1) == pytest.approx((2 + 4 + 16 + 32) / 4)     # empty box: (0.5, 1.5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("s1", [4, 8, 12])
def test_fusion_matches_float64_reference(seed, s1):
    rng = np.random.default_rng(100 + seed)
    batch, channels = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    h1, w1 = int(rng.integers(1, 16)), int(rng.integers(1, 16))
    p1, p2, p3 = pyramid(rng, batch, channels, h1, w1)
    rois = make_rois(rng, 9, batch, h1 * 8, w1 * 8)
    want = ref_fuse(p1, p2, p3, rois, s1)
    got = fuse_t(p1, p2, p3, rois, s1)
    assert got.shape == (9, channels, s1, s1)
    assert maxerr(got, want) <= tol(want)
    assert (got >= 0).all() and (want == 0).any()  # the ReLU acts


def test_without_rff_the_tail_gets_r1_alone():
    rng = np.random.default_rng(7)
    p1, p2, p3 = pyramid(rng, 2, 3, 10, 12)
    rois = make_rois(rng, 7, 2, 80, 96)
    got = fuse_t(p1, p2, p3, rois, 8, use_rff=False)
    want = ref_crop(p1, rois, 8, 8)
    assert maxerr(got, want) <= tol(want)
    assert (got < 0).any()  # no ReLU: exactly roi_crop(p1)


def test_empty_rois_and_bad_arguments():
    f = torch.zeros(1, 3, 4, 4)
    assert roi_align(f, torch.zeros(0, 5), 7, 8).shape == (0, 3, 7, 7)
    assert roi_feature_fusion(f, f[..., :2, :2], f[..., :1, :1], torch.zeros(0, 5), 8).shape == (
        0, 3, 8, 8)
    with pytest.raises(ValueError):
        roi_align(f, torch.zeros(3, 4), 7, 8)
    for stride in (0, -8, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="stride must be a positive finite number"):
            roi_align(f, torch.zeros(1, 5), 7, stride)
    with pytest.raises(ValueError):
        roi_feature_fusion(f, f, f, torch.zeros(1, 5), 6)


def test_roi_align_gradient_wrt_feature():
    rng = np.random.default_rng(3)
    feature = torch.from_numpy(rng.standard_normal((2, 2, 5, 6))).requires_grad_(True)
    rois = torch.from_numpy(make_rois(rng, 7, 2, 40, 48).astype(np.float64))
    assert torch.autograd.gradcheck(lambda f: roi_align(f, rois, 3, 8), (feature,))
    p1 = torch.from_numpy(rng.standard_normal((1, 2, 6, 6))).requires_grad_(True)
    p2 = torch.from_numpy(rng.standard_normal((1, 2, 3, 3))).requires_grad_(True)
    p3 = torch.from_numpy(rng.standard_normal((1, 2, 2, 2))).requires_grad_(True)
    rr = torch.tensor([[0, 3.0, 5.0, 40.0, 30.0], [0, -4.0, 10.0, 20.0, 50.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b, c: roi_feature_fusion(a, b, c, rr, 4),
                                    (p1, p2, p3))


def test_float32_geometry_at_realistic_sizes():
    # 416 input, S1 = 28, boxes anywhere: float32 coordinates vs the float64 reference.
    rng = np.random.default_rng(11)
    p1, p2, p3 = pyramid(rng, 1, 2, 52, 52)
    rois = make_rois(rng, 6, 1, 416, 416)
    want = ref_fuse(p1, p2, p3, rois, 28)
    assert maxerr(fuse_t(p1, p2, p3, rois, 28), want) <= tol(want)


# ------------------------------------------------ against the C++ kernels

@pytest.fixture(scope="module")
def ops():
    pytest.importorskip("fassst_rt._C", reason="the compiled core fassst_rt._C is not built")
    from fassst_rt import ops as module
    return module


@pytest.mark.parametrize("seed", range(6))
def test_roi_align_equals_kernel_roi_crop(ops, seed):
    rng = np.random.default_rng(200 + seed)
    batch, channels = int(rng.integers(1, 4)), int(rng.integers(1, 9))
    h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    stride = [4, 8, 16, 32, 8, 16][seed]
    size = int(rng.integers(1, 15))
    feature = (rng.standard_normal((batch, channels, h, w)) * 10).astype(np.float32)
    rois = make_rois(rng, 40, batch, h * stride, w * stride)
    kernel = ops.roi_crop(feature, rois, size, stride)
    # the same argument list as the kernel's: a stride, not its reciprocal
    got = roi_align(torch.from_numpy(feature), torch.from_numpy(rois), size, stride).numpy()
    assert maxerr(got, kernel) <= tol(kernel)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("s1", [4, 16, 28])
def test_fusion_equals_kernel_roi_fuse(ops, seed, s1):
    rng = np.random.default_rng(300 + seed)
    batch, channels = int(rng.integers(1, 3)), int(rng.integers(1, 9))
    h1, w1 = int(rng.integers(1, 53)), int(rng.integers(1, 53))
    p1, p2, p3 = (p * 5 for p in pyramid(rng, batch, channels, h1, w1))
    rois = make_rois(rng, 35, batch, h1 * 8, w1 * 8)
    kernel = ops.roi_fuse(p1, p2, p3, rois, output_size=s1, strides=(8, 16, 32))
    got = fuse_t(p1, p2, p3, rois, s1)
    assert got.shape == kernel.shape
    assert maxerr(got, kernel) <= tol(kernel)
