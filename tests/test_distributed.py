"""Segmentation on Ray Data (fassst_rt.distributed, `fassst-rt segment --ray`)
on a local 2-CPU Ray cluster started here, on the real test frames: every
row equals what the single-process runtime gives for the same frame (labels,
scores, boxes exactly, masks as the same COCO RLE), a bad file is a row with
its error while the others succeed, and the files Ray writes read back with
pyarrow and pandas. Skipped where Ray Data is not installed (the [ray] extra;
CI installs it in a venv of its own)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray Data is not installed (pip install 'fassst_rt[ray]')")
pytest.importorskip("ray.data", reason="Ray is installed without Ray Data (pip install 'ray[data]')")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed (part of fassst_rt[ray])")
pd = pytest.importorskip("pandas", reason="pandas is not installed (part of fassst_rt[ray])")
cv2 = pytest.importorskip("cv2", reason="OpenCV reads the frames (fassst_rt[cpu])")
pytest.importorskip("onnxruntime", reason="the shipped model runs on onnxruntime (fassst_rt[cpu])")
mask_utils = pytest.importorskip("pycocotools.mask", reason="pycocotools reads the COCO results (fassst_rt[ray])")

from fassst_rt import Segmenter, distributed  # noqa: E402
from fassst_rt.opencv_io import read_image  # noqa: E402
from reference import stored_results as stored  # noqa: E402
from support import subprocess_env  # noqa: E402

MODEL = str(stored.MODEL)
# frames of both data sets; the HeLa frames are tiled by the model's default tiling
FRAMES = ("hela_t00", "hela_t07", "bacteria_t03")

pytestmark = pytest.mark.skipif(not all((stored.data_dir() / (n + ".png")).is_file() for n in FRAMES),
                                reason="real data not fetched (fassst-rt data fetch)")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def folder(tmp_path):
    """The real frames and a file that is not an image."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in FRAMES:
        shutil.copyfile(str(stored.data_dir() / (name + ".png")), str(frames / (name + ".png")))
    (frames / "broken.png").write_bytes(b"not a PNG file")
    return frames


@pytest.fixture(scope="module")
def reference():
    """The single-process runtime's instances of each frame, by file name."""
    with Segmenter(MODEL) as seg:
        return {name: seg.run(read_image(str(stored.data_dir() / (name + ".png")))) for name in FRAMES}


def assert_row_equals(row, inst, where):
    """A result row read back holds exactly ``inst``'s instances."""
    assert row["error"] is None, where
    assert (row["height"], row["width"]) == inst.image_size, where
    assert list(row["labels"]) == inst.labels.tolist(), where
    assert list(row["names"]) == inst.class_names, where
    np.testing.assert_array_equal(np.float32(row["scores"]), inst.scores, err_msg=where)
    np.testing.assert_array_equal(np.float32([list(b) for b in row["boxes"]]).reshape(-1, 4), inst.boxes,
                                  err_msg=where)
    want = inst.rle()
    assert len(row["masks"]) == len(want), where
    for i, (got, expected) in enumerate(zip(row["masks"], want)):
        assert list(got["size"]) == expected["size"] and list(got["counts"]) == expected["counts"], \
            "{}: instance {}'s mask".format(where, i)


def test_job_rows_equal_the_single_process_runtime_and_a_bad_file_is_reported(cluster, folder, tmp_path,
                                                                              reference):
    out = tmp_path / "out"
    result = distributed.run_job([str(folder)], str(out), MODEL, fmt="parquet", actors=2, cpus_per_actor=1)
    assert result.ok == len(FRAMES)
    assert [(s, f) for s, f, _ in result.failed] == [(str(folder / "broken.png"), 0)]
    assert "broken.png: not an image OpenCV can read" in result.failed[0][2]

    table = pq.read_table(str(out / "frames"))  # Ray's Parquet files, read by pyarrow
    assert table.num_rows == len(FRAMES) + 1
    assert table.schema.equals(distributed.rows.schema(), check_metadata=False)
    rows = {os.path.basename(r["source"]): r for r in table.to_pylist()}
    for name in FRAMES:
        row = rows[name + ".png"]
        assert row["frame"] == 0 and row["timestamp"] == 0.0
        assert {"preprocess", "frame", "select"} <= {k for k, _ in row["timings_ms"]}
        assert_row_equals(row, reference[name], name)
    assert sum(len(reference[n]) for n in FRAMES) > 100, "the frames should hold many instances"
    bad = rows["broken.png"]
    assert bad["labels"] == [] and bad["masks"] == [] and bad["height"] is None

    frame_df = pd.read_parquet(str(out / "frames"))  # and by pandas
    assert sorted(frame_df["source"].map(os.path.basename)) == sorted([n + ".png" for n in FRAMES] + ["broken.png"])

    # the COCO results: pycocotools loads them against the images file and decodes masks equal to the runtime's
    images = json.loads((out / "coco_images.json").read_text())
    assert [c["name"] for c in images["categories"]] == ["nucleus", "bacterium"]
    by_id = {im["id"]: os.path.basename(im["file_name"])[:-4] for im in images["images"]}
    assert sorted(by_id.values()) == sorted(FRAMES)
    from pycocotools.coco import COCO
    gt = COCO()
    gt.dataset = dict(images, annotations=[])
    gt.createIndex()
    detections = gt.loadRes(str(out / "coco_results.json"))
    for image_id, name in by_id.items():
        anns = detections.imgToAnns[image_id]
        inst = reference[name]
        assert len(anns) == len(inst), name
        order = np.argsort([a["id"] for a in anns])
        masks = np.stack([mask_utils.decode(anns[j]["segmentation"]) for j in order]).astype(bool)
        np.testing.assert_array_equal(masks, inst.masks, err_msg=name)
        assert [anns[j]["category_id"] for j in order] == (inst.labels + 1).tolist()


def test_json_lines_output_of_a_video_and_an_image_list(cluster, tmp_path, reference):
    """JSON lines (pandas reads them), a video split into frames, a .txt list of sources."""
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (320, 240))
    grey = cv2.imread(str(stored.data_dir() / "hela_t00.png"), cv2.IMREAD_GRAYSCALE)
    for t in range(3):
        writer.write(cv2.cvtColor(np.ascontiguousarray(grey[40 * t:40 * t + 240, 100:420]), cv2.COLOR_GRAY2BGR))
    writer.release()
    decoded = []  # the frames as OpenCV decodes the file, the reference's input
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    while ok:
        decoded.append(frame)
        ok, frame = capture.read()
    assert len(decoded) == 3
    image = str(stored.data_dir() / "bacteria_t03.png")
    listing = tmp_path / "sources.txt"
    listing.write_text("# a video and an image\nclip.avi\n\n{}\n{}\n".format(image, tmp_path / "missing.png"))
    out = tmp_path / "out"
    result = distributed.run_job([str(listing)], str(out), MODEL, fmt="jsonl", actors=1, cpus_per_actor=2)
    assert result.ok == 4 and [os.path.basename(s) for s, _, _ in result.failed] == ["missing.png"]
    assert "no such file" in result.failed[0][2]
    files = sorted(os.listdir(str(out / "frames")))
    assert files and all(f.endswith(".json") for f in files)
    df = pd.concat([pd.read_json(str(out / "frames" / f), lines=True) for f in files])
    records = {(os.path.basename(r["source"]), int(r["frame"])): r for r in df.to_dict("records")}
    with Segmenter(MODEL) as seg:
        for t in range(3):
            row = records[("clip.avi", t)]
            assert row["timestamp"] == pytest.approx(t * 0.2)
            assert_row_equals(_json_row(row), seg.run(decoded[t]), "clip.avi frame {}".format(t))
    assert_row_equals(_json_row(records[("bacteria_t03.png", 0)]), reference["bacteria_t03"], "bacteria_t03")


def test_a_uri_is_read_by_ray(cluster, folder, tmp_path, reference):
    """A URI source goes through Ray Data's own file reading (read_binary_files):
    here file://, the scheme of a local path; s3://, gs:// and others the same way."""
    out = tmp_path / "out"
    result = distributed.run_job(["file://" + str(folder)], str(out), MODEL, actors=1, cpus_per_actor=2)
    assert result.ok == len(FRAMES) and [os.path.basename(s) for s, _, _ in result.failed] == ["broken.png"]
    rows = {os.path.basename(r["source"])[:-4]: r for r in pq.read_table(str(out / "frames")).to_pylist()}
    for name in FRAMES:
        assert_row_equals(rows[name], reference[name], name)


def _json_row(record):
    """A row read back from JSON lines by pandas, with its nulls as None."""
    row = dict(record)
    row["error"] = row["error"] if isinstance(row["error"], str) else None
    row["height"], row["width"] = int(row["height"]), int(row["width"])
    return row


def test_cli_ray_equals_the_plain_cli(cluster, folder, tmp_path):
    """`fassst-rt segment FOLDER --ray -o DIR` (in this process, on the test's
    cluster) against `fassst-rt segment FOLDER -o DIR --json` (a subprocess)."""
    from fassst_rt.cli import main
    plain = tmp_path / "plain"
    r = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "segment", str(folder), "-o", str(plain), "--json"],
                       capture_output=True, text=True, cwd=str(tmp_path), env=subprocess_env())
    assert r.returncode == 1 and "broken.png" in r.stderr, r.stderr
    out = tmp_path / "ray"
    status = main(["segment", str(folder), "--ray", "-o", str(out)])
    assert status == 1  # the broken file, as in the plain run
    rows = {os.path.basename(row["source"])[:-4]: row for row in pq.read_table(str(out / "frames")).to_pylist()}
    assert "not an image OpenCV can read" in rows["broken"]["error"]
    for name in FRAMES:
        doc = json.loads((plain / (name + ".json")).read_text())
        row = rows[name]
        assert [row["height"], row["width"]] == doc["image_size"]
        items = doc["instances"]
        assert len(items) == len(row["labels"]) > 0
        assert row["labels"] == [i["label"] for i in items] and row["names"] == [i["name"] for i in items]
        assert row["scores"] == [i["score"] for i in items]
        assert [list(b) for b in row["boxes"]] == [i["box"] for i in items]
        assert [{"size": m["size"], "counts": m["counts"]} for m in row["masks"]] == [i["rle"] for i in items]


def test_bad_arguments_are_named(cluster, folder, tmp_path):
    with pytest.raises(ValueError, match="actors must be an int >= 1, got 0"):
        distributed.run_job([str(folder)], str(tmp_path / "o"), MODEL, actors=0)
    with pytest.raises(ValueError, match="fmt must be one of parquet, jsonl, got 'csv'"):
        distributed.run_job([str(folder)], str(tmp_path / "o"), MODEL, fmt="csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no images or videos"):
        distributed.run_job([str(tmp_path / "empty")], str(tmp_path / "o"), MODEL)
    from fassst_rt.cli import main
    assert main(["segment", str(folder), "--ray", "--json", "-o", str(tmp_path / "x")]) == 1
    assert main(["segment", str(folder), "--ray"]) == 1
