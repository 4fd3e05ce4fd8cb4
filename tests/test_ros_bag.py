"""A rosbag2 MCAP bag of the real HeLa sequence (fassst_rt.ros_bag): the 20
frames segmented and tracked by the shipped model, written as the ROS 2
node's messages (input image, Detection2DArray with track ids, mono16 label
image) through fassst_rt.ros_mapping and rosbags, read back with rosbags'
reader and compared with the stream's results. Skipped without rosbags or
without the fetched data."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the bag is written and read with the optional rosbags package")
cv2 = pytest.importorskip("cv2", reason="the HeLa frames are PNG files")

from fassst_rt import Segmenter, ros_bag  # noqa: E402
from fassst_rt import ros_mapping as rm  # noqa: E402
from fassst_rt.models import default_model_path  # noqa: E402
from support import subprocess_env  # noqa: E402

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny", "tiny.onnx")


def hela_paths(count=20):
    from reference import stored_results as stored
    folder = stored.data_dir()
    paths = [folder / "hela_t{:02d}.png".format(t) for t in range(count)]
    if not all(p.is_file() for p in paths):
        pytest.skip("real data not fetched (fassst-rt data fetch)")
    return paths


def read_bag(path, frames):
    from rosbags.rosbag2 import Reader
    store = ros_bag.typestore()
    topics = {}
    with Reader(path) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == ros_bag.TOPICS
        assert reader.message_count == 3 * frames
        for connection, t, data in reader.messages():
            topics.setdefault(connection.topic, []).append((t, store.deserialize_cdr(data, connection.msgtype)))
    return topics


def stamp(header):
    return header.stamp.sec, header.stamp.nanosec


def test_an_mcap_bag_of_the_tracked_hela_sequence_reads_back_as_the_results(tmp_path):
    frames = [cv2.imread(str(p)) for p in hela_paths()]
    with Segmenter(default_model_path()) as seg:
        results = list(seg.stream(frames, track=True))
    path = tmp_path / "hela_bag"
    headers = []
    with ros_bag.BagWriter(str(path), frame_id="microscope") as bag:
        for r in results:
            # the frames come without a capture clock: one every 5 minutes from a fixed start
            headers.append(bag.write(r, rm.Header(rm.stamp_from_seconds(1.7e9 + 300 * r.frame), "microscope")))
    assert len(list(path.glob("*.mcap"))) == 1

    topics = read_bag(path, 20)
    assert sorted(topics) == sorted(ros_bag.TOPICS) and all(len(v) == 20 for v in topics.values())
    persistent = None
    for i, (r, header) in enumerate(zip(results, headers)):
        (t_image, image), (t_det, det), (t_label, label) = (topics[k][i] for k in ("/image", "/detections",
                                                                                  "/label_image"))
        assert t_image == t_det == t_label == header.stamp.sec * 10 ** 9 + header.stamp.nanosec
        for message in (image, det, label):
            assert stamp(message.header) == stamp(header) and message.header.frame_id == "microscope"
        # the input frame, byte for byte
        assert (image.encoding, image.height, image.width, image.step) == ("bgr8", 700, 1100, 3300)
        back = rm.frame_from_image(image.height, image.width, image.encoding, image.is_bigendian, image.step,
                                   image.data)
        np.testing.assert_array_equal(back, frames[i])
        # detection k is instance k: box, class, score, track id
        inst = r.instances
        assert len(det.detections) == len(inst) > 100
        boxes = np.array([[d.bbox.center.position.x - d.bbox.size_x / 2, d.bbox.center.position.y - d.bbox.size_y / 2,
                           d.bbox.center.position.x + d.bbox.size_x / 2, d.bbox.center.position.y + d.bbox.size_y / 2]
                          for d in det.detections])
        np.testing.assert_allclose(boxes, inst.boxes.astype(np.float64), rtol=0, atol=1e-9)
        assert [d.results[0].hypothesis.class_id for d in det.detections] == [inst.names[k] for k in inst.labels]
        assert [d.results[0].hypothesis.score for d in det.detections] == [float(s) for s in inst.scores]
        assert [d.id for d in det.detections] == [str(k) if k >= 1 else "" for k in inst.track_ids]
        assert all(stamp(d.header) == stamp(header) for d in det.detections)
        # the label image: instance k + 1 where it wins
        assert (label.encoding, label.is_bigendian, label.step) == ("mono16", 0, 2 * 1100)
        labels = rm.frame_from_image(label.height, label.width, label.encoding, label.is_bigendian, label.step,
                                     label.data)
        np.testing.assert_array_equal(labels, inst.label_image())
        ids = {d.id for d in det.detections if d.id}
        persistent = ids if persistent is None else persistent & ids
    # the ids in the bag are tracks: many nuclei keep theirs from the first frame to the last
    assert len(persistent) >= 40


def test_the_bag_tool_writes_a_bag_of_a_folder(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for p in hela_paths(3):
        shutil.copy(str(p), str(folder / p.name))
    out = tmp_path / "bag"
    r = subprocess.run([sys.executable, "-m", "fassst_rt.ros_bag", str(folder), str(out), "--model", TINY,
                        "--track", "--frame-id", "scope"],
                       capture_output=True, text=True, env=subprocess_env(), cwd=str(tmp_path), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "3 frames" in r.stdout
    topics = read_bag(out, 3)
    assert [len(topics[k]) for k in ros_bag.TOPICS] == [3, 3, 3]
    assert topics["/image"][0][1].header.frame_id == "scope"


def test_to_image_encodings_and_bad_frames():
    header = rm.Header(rm.stamp_from_seconds(1.5), "cam")
    grey = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    image = rm.to_image(grey, header)
    assert (image.encoding, image.step, image.data[:4]) == ("mono16", 8, b"\x00\x00\xe8\x03")
    rgb = rm.to_image(np.zeros((2, 5, 3), np.uint8), header, channel_order="rgb")
    assert (rgb.encoding, rgb.step, len(rgb.data)) == ("rgb8", 15, 30)
    with pytest.raises(ValueError, match=r"frame must be \(H, W, 3\) uint8.*got float32 \(2, 2\)"):
        rm.to_image(np.zeros((2, 2), np.float32), header)
