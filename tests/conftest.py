"""Shared fixtures and generators of the test suite."""

import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- which fassst_rt is tested

def _tested_copy():
    """Imports fassst_rt (an editable install rebuilds _C here when a source
    changed) and returns the report header's lines: which copy of the package
    and of its compiled core the run tests."""
    try:
        import fassst_rt
        from fassst_rt import _C
    except ImportError as e:
        return ["fassst_rt: NOT IMPORTABLE: {}".format(e)]
    except subprocess.CalledProcessError as e:
        # An editable install's rebuild failed: end the run here, where later
        # imports in this process would quietly load the previous _C.
        pytest.exit("fassst_rt._C did not rebuild ({}); the build's output is above".format(e), returncode=2)
    package = Path(fassst_rt.__file__).resolve().parent
    finder = getattr(fassst_rt.__spec__.loader, "_skbuild_finder", None)
    build_dir = getattr(finder, "path", None)
    if finder is not None:
        kind = "editable install of {}".format(package.parent)
        if build_dir and getattr(finder, "rebuild_flag", False):
            kind += ", _C rebuilt on import from {}".format(build_dir)
    elif package.parent == ROOT:
        kind = "this source tree on sys.path, not installed"
    else:
        kind = "an installed copy: edits to {} are NOT tested".format(ROOT)
    return ["fassst_rt {}: {} ({})".format(fassst_rt.__version__, package, kind),
            "fassst_rt._C: {} (CUDA kernels: {})".format(_C.__file__, "yes" if getattr(_C, "with_cuda", False) else "no")]


_TESTED = []


def pytest_configure(config):
    _TESTED[:] = _tested_copy()


def pytest_report_header(config):
    return _TESTED


def pytest_terminal_summary(terminalreporter, config):
    if config.getoption("verbose") < 0:  # -q hides the header: say it at the end instead
        for line in _TESTED:
            terminalreporter.write_line(line)


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
