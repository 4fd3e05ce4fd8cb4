"""``fassst-rt segment`` over folders and lists of files: a bad item is
reported and the run goes on, with a summary and a non-zero exit status; the
shipped model is found without ``-m`` from any working directory."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="the CLI reads and writes images with OpenCV")
pytest.importorskip("onnxruntime", reason="the CLI runs ONNX models with onnxruntime")

from fassst_rt import models  # noqa: E402
from fassst_rt.model_files import tail_onnx_path  # noqa: E402

from support import huge_png_header, subprocess_env  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "tests", "data", "tiny", "tiny.onnx")


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fassst_rt.cli", *args], capture_output=True, text=True,
                          cwd=str(cwd), env=subprocess_env())


def picture(path, seed=0, shape=(60, 80, 3)):
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


@pytest.fixture
def mixed_folder(tmp_path):
    """Two good images and three bad ones: not an image, an image OpenCV
    raises cv2.error on, a folder with an image's name."""
    folder = tmp_path / "frames"
    folder.mkdir()
    picture(folder / "a_good.png", 0)
    picture(folder / "e_good.jpg", 1)
    (folder / "b_garbage.png").write_bytes(b"this is not a png")
    huge_png_header(folder / "c_huge.png")
    (folder / "d_folder.png").mkdir()
    (folder / "notes.txt").write_text("not an image suffix: not an item")
    return folder


def test_a_folder_run_reports_bad_items_and_goes_on(mixed_folder, tmp_path):
    out = tmp_path / "out"
    r = cli("segment", str(mixed_folder), "--model", TINY, "-o", str(out), "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "cv2.error" not in r.stderr
    # each bad item named once on stderr, with why
    errors = [line for line in r.stderr.splitlines() if "fassst-rt segment: error:" in line]
    assert len(errors) == 3, r.stderr
    assert re.search(r"b_garbage\.png: not an image OpenCV can read", r.stderr)
    assert re.search(r"c_huge\.png: OpenCV could not decode this image .*CV_IO_MAX_IMAGE_PIXELS", r.stderr)
    assert re.search(r"d_folder\.png: not a regular file", r.stderr)
    # the summary: counts and which failed
    summary = r.stdout.strip().splitlines()[-1]
    assert summary.startswith("5 images: 2 ok, 3 failed (")
    for name in ("b_garbage.png", "c_huge.png", "d_folder.png"):
        assert name in summary
    # the good ones were done, before and after the bad ones
    assert sorted(os.listdir(str(out))) == ["a_good.json", "a_good.png", "e_good.json", "e_good.png"]
    assert cv2.imread(str(out / "e_good.png")).shape == (60, 80, 3)


def test_a_list_of_files_goes_on_past_a_missing_one(tmp_path):
    picture(tmp_path / "one.png", 0)
    picture(tmp_path / "two.png", 1)
    out = tmp_path / "out"
    r = cli("segment", "one.png", "missing.png", "two.png", "--model", TINY, "-o", str(out), cwd=tmp_path)
    assert r.returncode == 1
    assert "missing.png: no such image file" in r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("3 images: 2 ok, 1 failed (missing.png)")
    assert sorted(os.listdir(str(out))) == ["one.png", "two.png"]


def test_two_images_with_one_output_name_do_not_overwrite_each_other(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    picture(folder / "x.jpg", 0)
    picture(folder / "x.png", 1)
    r = cli("segment", str(folder), "--model", TINY, "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 1
    assert re.search(r"x\.png: its overlay .*x\.png would overwrite the one of .*x\.jpg", r.stderr), r.stderr
    assert "2 images: 1 ok, 1 failed" in r.stdout


def test_a_clean_folder_run_exits_0_with_its_summary(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        picture(folder / "f{}.png".format(i), i)
    r = cli("segment", str(folder), "--model", TINY, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "3 images: 3 ok, 0 failed"


def test_a_video_must_be_the_only_source(tmp_path):
    picture(tmp_path / "one.png")
    r = cli("segment", "clip.mp4", "one.png", "--model", TINY, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip() == ("fassst-rt segment: error: a video file or camera index must be the only SOURCE, "
                                "got clip.mp4 one.png")


# ------------------------------------------------------------------ the default model

def test_the_default_model_is_found_from_any_working_directory(tmp_path):
    picture(tmp_path / "frame.png", shape=(90, 130, 3))
    r = cli("segment", "frame.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.match(r"frame\.png: \d+ instances", r.stdout)


def test_the_packaged_copy_comes_first_and_a_missing_model_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "_PACKAGE_DIR", str(tmp_path / "site" / "fassst_rt"))
    packaged, checkout = models.default_model_candidates()
    assert packaged == str(tmp_path / "site" / "fassst_rt" / "engines" / "fassst_default.onnx")
    assert checkout == str(tmp_path / "site" / "engines" / "fassst_default.onnx")
    with pytest.raises(FileNotFoundError, match=r"shipped model is not installed .* pass a model with -m"):
        models.default_model_path()
    shipped = os.path.join(ROOT, "engines", "fassst_default.onnx")
    os.makedirs(os.path.dirname(packaged))
    for source, target in ((shipped, packaged), (tail_onnx_path(shipped), tail_onnx_path(packaged))):
        with open(source, "rb") as f, open(target, "wb") as g:
            g.write(f.read())
    assert models.default_model_path() == packaged
    os.remove(tail_onnx_path(packaged))  # a frame graph without its tail is not the model
    with pytest.raises(FileNotFoundError):
        models.default_model_path()


def test_a_shipped_model_is_named_by_its_bare_name_from_any_working_directory(tmp_path):
    picture(tmp_path / "frame.png", shape=(90, 130, 3))
    r = cli("segment", "frame.png", "-m", "fassst_dense.onnx", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.match(r"frame\.png: \d+ instances", r.stdout)
    dense = models.resolve_model("fassst_dense.onnx")
    assert dense == models.shipped_model_path("fassst_dense.onnx") and os.path.isfile(tail_onnx_path(dense))
    # a file that exists, or any other name, is passed on as given
    assert models.resolve_model(str(tmp_path / "frame.png")) == str(tmp_path / "frame.png")
    assert models.resolve_model("nothing_here.onnx") == "nothing_here.onnx"
    with pytest.raises(ValueError, match="name must be one of the shipped models"):
        models.shipped_model_path("nothing_here.onnx")


def test_the_wheel_installs_the_files_the_lookup_wants():
    """CMakeLists.txt's install rule puts the shipped models where
    shipped_model_candidates() looks first, inside the installed package."""
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        cmake = f.read()
    rule = re.search(r"install\(FILES ([^)]*) DESTINATION fassst_rt/engines\)", cmake)
    assert rule, "CMakeLists.txt must install the shipped model into fassst_rt/engines"
    installed = rule.group(1).split()
    assert installed == [p for name in models.SHIPPED_MODEL_NAMES
                         for p in ("engines/" + name, "engines/" + os.path.basename(tail_onnx_path(name)))]
    assert all(os.path.isfile(os.path.join(ROOT, p)) for p in installed)
    assert models.default_model_candidates()[0].endswith(os.path.join("fassst_rt", "engines",
                                                                      models.DEFAULT_MODEL_NAME))
