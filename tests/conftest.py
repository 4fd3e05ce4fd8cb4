"""Shared fixtures and generators of the test suite."""

import zlib

import numpy as np
import pytest


def make_rois(rng, num, batch, input_h, input_w, edge_cases=True):
    """(K, 5) float32 ROI rows over an input of input_h x input_w pixels: boxes
    inside, partly and wholly outside, zero-size and inverted ones."""
    rows = []
    for k in range(num):
        b = rng.integers(0, batch)
        kind = rng.integers(0, 6) if edge_cases else 0
        if kind == 0:  # inside
            x1, x2 = np.sort(rng.uniform(0, input_w, 2))
            y1, y2 = np.sort(rng.uniform(0, input_h, 2))
        elif kind == 1:  # partly outside
            x1, y1 = rng.uniform(-0.5 * input_w, 0.5 * input_w), rng.uniform(-0.5 * input_h, 0.5 * input_h)
            x2, y2 = x1 + rng.uniform(1, input_w), y1 + rng.uniform(1, input_h)
        elif kind == 2:  # wholly outside
            x1, y1 = rng.uniform(1.2 * input_w, 2 * input_w), rng.uniform(-2 * input_h, 2 * input_h)
            x2, y2 = x1 + rng.uniform(1, 50), y1 + rng.uniform(1, 50)
        elif kind == 3:  # zero width and/or height
            x1, y1 = rng.uniform(0, input_w), rng.uniform(0, input_h)
            x2, y2 = x1, (y1 if rng.random() < 0.5 else y1 + rng.uniform(1, 30))
        elif kind == 4:  # inverted
            x2, x1 = np.sort(rng.uniform(0, input_w, 2))
            y2, y1 = np.sort(rng.uniform(0, input_h, 2))
        else:  # tiny
            x1, y1 = rng.uniform(0, input_w), rng.uniform(0, input_h)
            x2, y2 = x1 + rng.uniform(0, 2), y1 + rng.uniform(0, 2)
        rows.append([b, x1, y1, x2, y2])
    return np.asarray(rows, dtype=np.float32).reshape(num, 5)


def make_pyramid(rng, batch, channels, h1, w1, dtype=np.float32):
    """p1, p2, p3 at strides 8, 16, 32 of one input (ceil-halved sizes), with
    negative values so that the ReLU matters."""
    sizes = [(h1, w1), ((h1 + 1) // 2, (w1 + 1) // 2), ((h1 + 3) // 4, (w1 + 3) // 4)]
    return [rng.standard_normal((batch, channels, h, w)).astype(dtype) for h, w in sizes]


def fuse_tolerance(reference):
    """DESIGN section 2: |error| <= 2e-5 * max(1, max |R|)."""
    return 2e-5 * max(1.0, float(np.abs(reference).max(initial=0.0)))


@pytest.fixture
def rng(request):
    # A seed per test, stable across runs, printed on failure by -ra.
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def huge_png_header(path):
    """A valid PNG signature and header claiming 100000 x 100000 pixels: OpenCV
    raises cv2.error (CV_IO_MAX_IMAGE_PIXELS) instead of returning None."""
    import struct

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))
