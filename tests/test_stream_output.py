"""JSON lines per stream frame (fassst_rt.stream_output, DESIGN section 6):
the schema, values equal to the Instances', masks that pycocotools decodes
back to ``Instances.masks`` exactly, track ids as ``id``, and clear errors."""

import io
import json
import math
import os

import numpy as np
import pytest

from fassst_rt import Instances, Segmenter
from fassst_rt.segmenter import StreamResult
from fassst_rt.stream_output import frame_record, result_to_json_line, track_ids_of, write_json_lines

mask_api = pytest.importorskip("pycocotools.mask")
# pycocotools' own NumPy 2 notice, not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny", "tiny.onnx")
INSTANCE_KEYS = {"id", "label", "name", "score", "box", "mask"}


def decode(rle):
    """A JSON mask back to an (H, W) bool array with pycocotools (the reference)."""
    h, w = rle["size"]
    compressed = mask_api.frPyObjects(rle, h, w)
    return mask_api.decode(compressed).astype(bool)


def check_line(line, result):
    assert "\n" not in line
    record = json.loads(line)
    assert set(record) == {"source", "frame", "timestamp", "instances"}
    assert record["source"] == result.source and record["frame"] == result.frame
    assert record["timestamp"] == result.timestamp
    instances = result.instances
    assert len(record["instances"]) == len(instances)
    masks = instances.masks
    for i, item in enumerate(record["instances"]):
        assert set(item) == INSTANCE_KEYS
        assert isinstance(item["label"], int) and item["label"] == instances.labels[i]
        assert item["name"] == instances.names[instances.labels[i]]
        # float32 -> JSON -> float32 is exact (a double holds every float32)
        assert np.float32(item["score"]) == instances.scores[i]
        np.testing.assert_array_equal(np.asarray(item["box"], np.float32), instances.boxes[i])
        assert item["mask"]["size"] == list(instances.image_size)
        np.testing.assert_array_equal(decode(item["mask"]), masks[i])
        assert mask_api.area(mask_api.frPyObjects(item["mask"], *instances.image_size)) == masks[i].sum()
    return record


def test_stream_lines_carry_each_frames_instances_and_masks(rng):
    frames = [rng.integers(0, 256, (150, 200, 3), dtype=np.uint8) for _ in range(3)]
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        results = list(seg.stream(frames))
    assert sum(len(r.instances) for r in results) > 0
    for result in results:
        record = check_line(result_to_json_line(result), result)
        assert all(item["id"] is None for item in record["instances"])  # not tracked


def handmade(image_size=(40, 60)):
    """Three instances: one covering the whole frame (its RLE starts with a
    run of ones, counts[0] == 0), one in a corner, one of the second class."""
    h, w = image_size
    boxes = np.array([[0, 0, w, h], [w - 10, h - 8, w, h], [5, 5, 25, 15]], np.float32)
    box_masks = np.zeros((3, 8, 8), np.float32)
    box_masks[0] = 1.0
    box_masks[1, 2:6, 2:6] = 0.9
    box_masks[2, :, :4] = 0.8
    return Instances(boxes, np.array([0.9, 0.7, 0.55], np.float32), np.array([0, 0, 1], np.int64),
                     ["cell", "debris"], box_masks, boxes, image_size)


def test_masks_starting_inside_and_track_ids():
    instances = handmade()
    instances.track_ids = np.array([7, -1, 12], np.int64)  # -1: the tracker's "no confirmed track"
    result = StreamResult("cam", 4, 12.5, instances, 3.0, 0)
    record = check_line(result_to_json_line(result), result)
    assert record["instances"][0]["mask"]["counts"][0] == 0
    assert [item["id"] for item in record["instances"]] == [7, None, 12]
    assert [item["name"] for item in record["instances"]] == ["cell", "cell", "debris"]


def test_empty_frame_and_masks_left_out():
    empty = Instances(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), ["cell"], np.zeros((0, 8, 8)),
                      np.zeros((0, 4)), (30, 20))
    record = json.loads(result_to_json_line(StreamResult("folder", 0, 0.0, empty, 0.0, 0)))
    assert record == {"source": "folder", "frame": 0, "timestamp": 0.0, "instances": []}
    without = frame_record(handmade(), "s", 1, 2.0, with_masks=False)
    assert all(set(item) == INSTANCE_KEYS - {"mask"} for item in without["instances"])


def test_write_json_lines_one_line_per_result():
    results = [StreamResult("s", i, float(i), handmade(), 0.0, 0) for i in range(3)]
    out = io.StringIO()
    assert write_json_lines(results, out) == 3
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 4
    assert [json.loads(line)["frame"] for line in lines[:3]] == [0, 1, 2]


def test_bad_input_is_named():
    instances = handmade()
    with pytest.raises(TypeError, match="StreamResult.*timestamp, instances"):
        result_to_json_line(("s", 0))
    with pytest.raises(ValueError, match="timestamp must be a finite"):
        result_to_json_line(StreamResult("s", 0, math.nan, instances, 0.0, 0))
    with pytest.raises(TypeError, match="frame must be an int"):
        frame_record(instances, "s", 1.5, 0.0)
    with pytest.raises(TypeError, match="instances must be a fassst_rt.Instances"):
        frame_record({"boxes": []}, "s", 0, 0.0)
    instances.track_ids = np.array([1, 2], np.int64)
    with pytest.raises(ValueError, match=r"track_ids must be a \(3,\) integer array"):
        track_ids_of(instances)
    instances.track_ids = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="track_ids"):
        track_ids_of(instances)
