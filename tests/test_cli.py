"""The fassst-rt command line in a subprocess, on real files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="the CLI reads and writes images with OpenCV")
pytest.importorskip("onnxruntime", reason="the CLI runs ONNX models with onnxruntime")

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny", "tiny.onnx")


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fassst_rt.cli", *args], capture_output=True, text=True,
                          cwd=cwd or os.path.dirname(os.path.abspath(TINY)))


@pytest.fixture
def image_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), rng.integers(0, 256, (90, 130, 3), dtype=np.uint8))
    return path


def test_segment_an_image_writes_overlay_and_json(image_file, tmp_path):
    out = tmp_path / "out" / "overlay.png"
    r = cli("segment", str(image_file), "--model", TINY, "-o", str(out), "--json", "--score-threshold", "0")
    assert r.returncode == 0, r.stderr
    assert "36 instances" in r.stdout
    overlay = cv2.imread(str(out))
    assert overlay.shape == (90, 130, 3)
    doc = json.loads((tmp_path / "out" / "overlay.json").read_text())
    assert len(doc["instances"]) == 36 and doc["image_size"] == [90, 130]


def test_segment_a_folder(image_file, tmp_path):
    cv2.imwrite(str(image_file.parent / "second.jpg"), np.zeros((40, 40, 3), np.uint8))
    out = tmp_path / "results"
    r = cli("segment", str(image_file.parent), "--model", TINY, "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["frame.png", "second.png"]


def test_segment_a_video(tmp_path):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    out = tmp_path / "annotated.mp4"
    r = cli("segment", str(video), "--model", TINY, "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "5 frames" in r.stdout
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5


def test_info_describes_the_model():
    r = cli("info", TINY)
    assert r.returncode == 0, r.stderr
    assert "S = 6 (36 instances" in r.stdout and "0: disc" in r.stdout
    doc = json.loads(cli("info", TINY, "--json").stdout)
    assert doc["grid_size"] == 6


def test_info_describes_a_stride_grid_model_by_its_cell():
    dense = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "engines", "fassst_dense.onnx")
    r = cli("info", dense)
    assert r.returncode == 0, r.stderr
    assert "one cell per 24 px" in r.stdout and "resized by 1.5" in r.stdout
    assert "instances at most per input" not in r.stdout and "192 x 192" not in r.stdout


def test_errors_are_one_line(tmp_path):
    r = cli("segment", str(tmp_path / "missing.png"), "--model", TINY)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "missing.png: no such image file" in r.stderr
    r = cli("segment", str(tmp_path / "missing.png"), "--model", str(tmp_path / "nope.onnx"))
    assert "nope.onnx: the model's frame graph does not exist" in r.stderr
    r = cli("segment", str(tmp_path / "missing.png"), "--model", TINY, "--debug")
    assert "Traceback" in r.stderr
    assert cli("frobnicate").returncode == 2


def test_inference_verbs_run_without_pytorch(image_file):
    # sys.modules[name] = None makes `import name` raise ImportError: a machine
    # without PyTorch (or TensorRT), as on a Jetson running Python 3.8.
    code = ("import sys\n"
            "for name in ('torch', 'tensorrt', 'pycocotools'):\n"
            "    sys.modules[name] = None\n"
            "from fassst_rt.cli import main\n"
            "assert main(['info', sys.argv[1]]) == 0\n"
            "assert main(['segment', sys.argv[2], '--model', sys.argv[1]]) == 0\n"
            "sys.exit(main(['export', 'missing.pt', '-o', 'out.onnx']))\n")
    # from the image's folder: the checkout must not shadow the package under test
    r = subprocess.run([sys.executable, "-c", code, TINY, str(image_file)], capture_output=True, text=True,
                       cwd=str(image_file.parent))
    assert "0: disc" in r.stdout and "instances" in r.stdout, r.stderr
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == ("fassst-rt export: needs a dependency that is missing (import of torch halted; "
                                "None in sys.modules); install fassst_rt[train] on Python >= 3.10")


def test_every_verb_has_help():
    for verb in ("segment", "info", "export", "export-triton", "build", "train", "eval", "data"):
        r = cli(verb, "--help")
        assert r.returncode == 0, (verb, r.stderr)
        assert r.stdout.startswith("usage: fassst-rt " + verb), r.stdout


def test_segment_a_video_as_a_tracked_stream_with_json_lines(tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    base = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    for i in range(6):
        writer.write(np.roll(base, 2 * i, axis=1))
    writer.release()
    lines_path = tmp_path / "clip.jsonl"
    r = cli("segment", str(video), "--model", TINY, "--track", "--jsonl", str(lines_path),
            "--score-threshold", "0", "-o", str(tmp_path / "annotated.avi"))
    assert r.returncode == 0, r.stderr
    assert "6 frames" in r.stdout and "median latency" in r.stdout
    records = [json.loads(line) for line in lines_path.read_text().splitlines()]
    assert [rec["frame"] for rec in records] == list(range(6))
    assert [round(rec["timestamp"], 2) for rec in records] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert all(rec["source"] == str(video) for rec in records)
    first = records[0]["instances"]
    assert first and {"id", "label", "name", "score", "box", "mask"} <= set(first[0])
    assert all(item["id"] is None or item["id"] >= 1 for rec in records for item in rec["instances"])
    r = cli("segment", str(tmp_path / "clip.avi"), "--model", TINY, "--mode", "fast")
    assert r.returncode == 2 and "invalid choice: 'fast'" in r.stderr


def test_track_a_video_of_hela_frames(tmp_path):
    from reference import stored_results as stored
    frames_dir = stored.data_dir()
    if not (frames_dir / "hela_t00.png").is_file():
        pytest.skip("real data not fetched (fassst-rt data fetch)")
    video = tmp_path / "hela.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (550, 350))
    for t in range(5):
        grey = cv2.imread(str(frames_dir / "hela_t{:02d}.png".format(t)), cv2.IMREAD_GRAYSCALE)
        writer.write(cv2.cvtColor(cv2.resize(grey[:350, :550], (550, 350)), cv2.COLOR_GRAY2BGR))
    writer.release()
    out, lines, mot = tmp_path / "tracked.avi", tmp_path / "hela.jsonl", tmp_path / "hela.mot.txt"
    r = cli("track", str(video), "-o", str(out), "--jsonl", str(lines), "--mot", str(mot))
    assert r.returncode == 0, r.stderr
    assert "5 frames" in r.stdout
    rows = [line.split(",") for line in mot.read_text().splitlines()]
    assert rows and all(len(row) == 10 and row[7:] == ["-1", "-1", "-1"] for row in rows)
    ids_per_frame = [{int(row[1]) for row in rows if int(row[0]) == f} for f in range(1, 6)]
    assert len(ids_per_frame[0] & ids_per_frame[-1]) >= 0.5 * len(ids_per_frame[0]) > 0, \
        "most nuclei of the first frame should keep their id to the last"
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert len(records) == 5 and cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT) == 5
    r = cli("track", str(frames_dir), "--model", TINY)
    assert r.returncode == 1 and "track needs one video file, camera, URL or gst: pipeline" in r.stderr
