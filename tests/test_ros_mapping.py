"""Instances -> ROS 2 messages without ROS (fassst_rt.ros_mapping), and the
ROS 2 package in ros2/fassst_ros checked as far as a machine without ROS 2
allows: its ROS-free modules import and run, every Python file compiles, its
manifest, parameter file and node agree."""

import ast
import os
import py_compile
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from fassst_rt import Instances, Segmenter
from fassst_rt import ros_mapping as rm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "ros2", "fassst_ros")
TINY = os.path.join(ROOT, "tests", "data", "tiny", "tiny.onnx")
HEADER = rm.Header(rm.Time(1718000000, 250000000), "camera_optical")


def handmade(image_size=(40, 60)):
    h, w = image_size
    boxes = np.array([[10, 20, 50, 40], [0, 0, w, h], [2.5, 3.25, 7.75, 9.5]], np.float32)
    box_masks = np.zeros((3, 8, 8), np.float32)
    box_masks[0] = 0.9
    box_masks[1, :4] = 0.6
    box_masks[2] = 0.7
    return Instances(boxes, np.array([0.9, 0.6, 0.3], np.float32), np.array([1, 0, 1], np.int64),
                     ["cell", "debris"], box_masks, boxes, image_size)


def empty(image_size=(30, 20)):
    return Instances(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), ["cell"], np.zeros((0, 8, 8)),
                     np.zeros((0, 4)), image_size)


# ------------------------------------------------------------- detections


def test_detection_fields_by_hand():
    array = rm.to_detection_array(handmade(), HEADER)
    assert array.header == HEADER and array.header is not HEADER
    first = array.detections[0]
    assert first.header == HEADER and first.header is not array.header  # no shared, mutable header
    assert first.bbox.center == rm.Pose2D(30.0, 30.0, 0.0)  # box 10, 20, 50, 40
    assert (first.bbox.size_x, first.bbox.size_y) == (40.0, 20.0)
    assert first.results == [rm.ObjectHypothesis("debris", float(np.float32(0.9)))]
    assert first.id == ""  # not tracked: vision_msgs allows an empty id
    third = array.detections[2]
    assert third.bbox.center == rm.Pose2D(5.125, 6.375, 0.0)
    assert (third.bbox.size_x, third.bbox.size_y) == (5.25, 6.25)
    labels = rm.to_detection_array(handmade(), HEADER, class_id="label")
    assert [d.results[0].class_id for d in labels.detections] == ["1", "0", "1"]


def test_detections_of_a_segmented_frame(rng):
    frame = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        instances = seg.run(frame)
    assert len(instances) > 0
    instances.track_ids = np.arange(len(instances), dtype=np.int64) * 3 - 1  # -1, 2, 5, ...
    array = rm.to_detection_array(instances, HEADER)
    assert len(array.detections) == len(instances)
    for i, d in enumerate(array.detections):
        x1, y1, x2, y2 = instances.boxes[i].astype(np.float64)
        # the box back from centre and size
        assert d.bbox.center.x - d.bbox.size_x / 2 == pytest.approx(x1, abs=1e-9)
        assert d.bbox.center.x + d.bbox.size_x / 2 == pytest.approx(x2, abs=1e-9)
        assert d.bbox.center.y - d.bbox.size_y / 2 == pytest.approx(y1, abs=1e-9)
        assert d.bbox.center.y + d.bbox.size_y / 2 == pytest.approx(y2, abs=1e-9)
        assert d.bbox.size_x >= 0 and d.bbox.size_y >= 0 and d.bbox.center.theta == 0.0
        assert d.results[0].class_id == instances.names[instances.labels[i]]
        assert d.results[0].score == float(instances.scores[i])
        assert d.id == ("" if i == 0 else str(3 * i - 1))


def test_detection_ids_and_bad_input():
    instances = handmade()
    assert rm.detection_ids(instances) == ["", "", ""]
    instances.track_ids = np.array([4, -1, 123456789012], np.int64)
    assert rm.detection_ids(instances) == ["4", "", "123456789012"]
    instances.track_ids = np.array([4, 5], np.int64)
    with pytest.raises(ValueError, match=r"track_ids must be a \(3,\) integer array"):
        rm.to_detection_array(instances, HEADER)
    with pytest.raises(ValueError, match="class_id must be 'name' or 'label'"):
        rm.to_detection_array(handmade(), HEADER, class_id="index")
    with pytest.raises(TypeError, match="header must be"):
        rm.to_detection_array(handmade(), {"frame_id": "x"})
    with pytest.raises(TypeError, match="instances must be"):
        rm.to_label_image(None, HEADER)


def test_empty_frame():
    array = rm.to_detection_array(empty(), HEADER)
    assert array.detections == [] and array.header == HEADER
    image = rm.to_label_image(empty((30, 20)), HEADER)
    assert (image.height, image.width, image.step, image.encoding) == (30, 20, 40, "mono16")
    assert image.data == bytes(30 * 20 * 2)


# ------------------------------------------------------------- label image


def decode_mono16(image):
    assert image.encoding == "mono16" and image.is_bigendian == 0
    assert image.step == 2 * image.width and len(image.data) == image.step * image.height
    return np.frombuffer(image.data, "<u2").reshape(image.height, image.width)


def test_label_image_matches_instances(rng):
    frame = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        instances = seg.run(frame)
    image = rm.to_label_image(instances, HEADER)
    assert image.header == HEADER and (image.height, image.width) == (150, 200)
    labels = decode_mono16(image)
    np.testing.assert_array_equal(labels, instances.label_image())
    # instance i's pixels are labelled i + 1 only inside its own mask
    masks = instances.masks
    for i in np.unique(labels[labels > 0]):
        assert masks[i - 1][labels == i].all()
    assert (labels == 0).sum() == (~masks.any(axis=0)).sum()


def test_label_image_byte_order_and_clipping():
    # a value above 255 shows the byte order: 300 = 0x012C is 2C 01 little-endian
    h, w, k = 300, 300, 70000  # 70000 one-pixel instances, more than mono16 holds
    ys, xs = np.divmod(np.arange(k), w)
    boxes = np.stack([xs, ys, xs + 1, ys + 1], 1).astype(np.float32)
    many = Instances(boxes, np.linspace(1, 0.5, k).astype(np.float32), np.zeros(k, np.int64), ["dot"],
                     np.ones((k, 1, 1), np.float32), boxes, (h, w))
    image = rm.to_label_image(many, HEADER)
    labels = decode_mono16(image)
    flat = labels.reshape(-1)
    np.testing.assert_array_equal(flat[:65535], np.arange(1, 65536))
    assert (flat[65535:k] == 65535).all() and (flat[k:] == 0).all()
    assert image.data[2 * 299:2 * 300] == b"\x2c\x01"  # pixel (0, 299) is instance 299 -> 300


# ------------------------------------------------------------- stamps


def test_stamp_from_seconds():
    assert rm.stamp_from_seconds(1.5) == rm.Time(1, 500000000)
    assert rm.stamp_from_seconds(0.0) == rm.Time(0, 0)
    assert rm.stamp_from_seconds(1718000000.25) == rm.Time(1718000000, 250000000)
    assert rm.stamp_from_seconds(2.9999999999) == rm.Time(3, 0)  # rounding carries into sec
    for bad in (-0.5, float("nan"), float("inf"), 2.0 ** 31):
        with pytest.raises(ValueError, match="stamp seconds"):
            rm.stamp_from_seconds(bad)


# ------------------------------------------------------------- incoming images


def as_message(frame, encoding, pad=0, big_endian=False):
    """A sensor_msgs/Image's fields for ``frame``, each row padded by ``pad`` bytes."""
    h, w = frame.shape[:2]
    data = frame.astype(frame.dtype.newbyteorder(">" if big_endian else "<"))
    rows = data.reshape(h, -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((h, pad), 0xAB, np.uint8)], axis=1)
    return dict(height=h, width=w, encoding=encoding, is_bigendian=int(big_endian),
                step=padded.shape[1], data=padded.tobytes())


def test_frame_from_image_layouts(rng):
    bgr = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    np.testing.assert_array_equal(rm.frame_from_image(**as_message(bgr, "bgr8", pad=3)), bgr)
    np.testing.assert_array_equal(rm.frame_from_image(**as_message(rgb, "rgb8", pad=1)), bgr)
    np.testing.assert_array_equal(rm.frame_from_image(**as_message(rgb, "rgb8"), channel_order="rgb"), rgb)
    rgba = np.concatenate([rgb, rng.integers(0, 256, (7, 5, 1), dtype=np.uint8)], axis=2)
    got = rm.frame_from_image(**as_message(rgba, "rgba8", pad=2))
    np.testing.assert_array_equal(got[:, :, :3], bgr)
    np.testing.assert_array_equal(got[:, :, 3], rgba[:, :, 3])
    grey16 = rng.integers(0, 65536, (6, 9), dtype=np.uint16)
    for big in (False, True):
        got = rm.frame_from_image(**as_message(grey16, "mono16", pad=2, big_endian=big))
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, grey16)
    grey8 = rng.integers(0, 256, (4, 3), dtype=np.uint8)
    fields = as_message(grey8, "mono8")
    fields["data"] = list(fields["data"])  # a list of ints, as some clients give
    np.testing.assert_array_equal(rm.frame_from_image(**fields), grey8)


def test_frame_from_image_bad_input():
    good = as_message(np.zeros((4, 3, 3), np.uint8), "bgr8")
    with pytest.raises(ValueError, match="encoding 'yuv422' is not supported; expected one of"):
        rm.frame_from_image(**dict(good, encoding="yuv422"))
    with pytest.raises(ValueError, match="step 8 is shorter than a row of 3 bgr8 pixels"):
        rm.frame_from_image(**dict(good, step=8))
    with pytest.raises(ValueError, match="data holds 35 bytes"):
        rm.frame_from_image(**dict(good, data=good["data"][:-1]))
    with pytest.raises(ValueError, match="image is empty"):
        rm.frame_from_image(**dict(good, height=0, data=b""))
    with pytest.raises(ValueError, match="channel_order"):
        rm.frame_from_image(**good, channel_order="yuv")


def test_padded_rgb_message_segments_like_the_bgr_frame(rng):
    """End to end: an rgb8 message with row padding, decoded for a BGR
    Segmenter, gives the instances of the BGR frame itself."""
    bgr = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    message = as_message(np.ascontiguousarray(bgr[:, :, ::-1]), "rgb8", pad=8)
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        want = seg.run(bgr)
        got = seg.run(rm.frame_from_image(**message, channel_order=seg.channel_order))
    assert len(want) > 0
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_array_equal(got.box_masks, want.box_masks)
    # and the label image read back as a mono16 frame is the label map
    image = rm.to_label_image(got, HEADER)
    back = rm.frame_from_image(image.height, image.width, image.encoding, image.is_bigendian, image.step, image.data)
    np.testing.assert_array_equal(back, want.label_image())


# ------------------------------------------------------------- the ROS 2 package


@pytest.fixture
def package_path(monkeypatch):
    monkeypatch.syspath_prepend(PACKAGE)
    for name in [m for m in sys.modules if m == "fassst_ros" or m.startswith("fassst_ros.")]:
        monkeypatch.delitem(sys.modules, name)
    yield PACKAGE


def test_every_python_file_of_the_package_compiles(tmp_path):
    files = [os.path.join(d, f) for d, _, names in os.walk(PACKAGE) for f in names if f.endswith(".py")]
    assert {"segment_node.py", "settings.py", "setup.py", "fassst_segmenter.launch.py"} <= {
        os.path.basename(f) for f in files}
    for i, path in enumerate(files):
        py_compile.compile(path, cfile=str(tmp_path / "{}.pyc".format(i)), doraise=True)


def test_node_module_imports_without_ros(package_path):
    """rclpy and the message packages are imported inside functions only."""
    import importlib
    node = importlib.import_module("fassst_ros.segment_node")
    tree = ast.parse(open(node.__file__).read())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    imported = {a.name.split(".")[0] for n in top for a in n.names} | {
        (n.module or "").split(".")[0] for n in top if isinstance(n, ast.ImportFrom)}
    assert not imported & {"rclpy", "sensor_msgs", "vision_msgs", "std_msgs", "launch", "launch_ros"}


class FakeMessage:
    """Stands in for a generated ROS message class: attributes that exist,
    nested messages, list fields (only the message containers are faked; the
    code under test is the copy from the mapping's dataclasses)."""

    def __init__(self, **fields):
        for name, value in fields.items():
            setattr(self, name, value() if callable(value) else value)


def humble_types():
    def header():
        return FakeMessage(stamp=lambda: FakeMessage(sec=0, nanosec=0), frame_id="")

    def detection():
        return FakeMessage(header=header, results=list, id="",
                           bbox=lambda: FakeMessage(center=lambda: FakeMessage(
                               position=lambda: FakeMessage(x=0.0, y=0.0), theta=0.0), size_x=0.0, size_y=0.0))

    def hypothesis():
        return FakeMessage(hypothesis=lambda: FakeMessage(class_id="", score=0.0), pose=None)

    return (lambda: FakeMessage(header=header, detections=list)), detection, hypothesis


def foxy_types():
    array_type, _, _ = humble_types()

    def detection():
        return FakeMessage(header=lambda: FakeMessage(stamp=lambda: FakeMessage(sec=0, nanosec=0), frame_id=""),
                           results=list, tracking_id="", is_tracking=False,
                           bbox=lambda: FakeMessage(center=lambda: FakeMessage(x=0.0, y=0.0, theta=0.0),
                                                    size_x=0.0, size_y=0.0))

    return array_type, detection, (lambda: FakeMessage(id="", score=0.0, pose=None))


def test_node_copies_the_mapping_into_each_distributions_fields(package_path):
    from fassst_ros.segment_node import detection_array_message

    instances = handmade()
    instances.track_ids = np.array([3, -1, 8], np.int64)
    mapped = rm.to_detection_array(instances, HEADER)
    humble = detection_array_message(mapped, humble_types())
    assert (humble.header.stamp.sec, humble.header.stamp.nanosec, humble.header.frame_id) == (
        1718000000, 250000000, "camera_optical")
    d = humble.detections[0]
    assert (d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y) == (30, 30, 40, 20)
    assert (d.results[0].hypothesis.class_id, d.id) == ("debris", "3")
    assert [x.id for x in humble.detections] == ["3", "", "8"]
    foxy = detection_array_message(mapped, foxy_types())
    f = foxy.detections[1]
    assert (f.bbox.center.x, f.bbox.center.y, f.results[0].id, f.tracking_id, f.is_tracking) == (
        30, 20, "cell", "", False)
    assert foxy.detections[2].is_tracking is True


def test_node_settings(package_path):
    from fassst_ros.settings import PARAMETERS, NodeSettings, parse_source

    assert parse_source("") is None and parse_source(" 2 ") == 2 and parse_source("/dev/video1") == "/dev/video1"
    assert parse_source("gst:videotestsrc ! appsink") == "gst:videotestsrc ! appsink"
    topic = NodeSettings({"model": TINY})
    assert topic.stream_arguments() is None
    assert topic.segmenter_arguments() == {"path": TINY, "backend": "auto", "device": "auto",
                                           "score_threshold": None, "nms_threshold": None, "max_instances": None,
                                           "tile": None, "num_threads": None}
    camera = NodeSettings({"model": TINY, "source": "0", "mode": "throughput", "score_threshold": 0,
                           "tile_size": 256, "tile_overlap": 32, "max_instances": 50, "num_threads": 2})
    assert camera.stream_arguments() == {"source": 0, "mode": "throughput", "queue_size": 4}
    arguments = camera.segmenter_arguments()
    assert (arguments["score_threshold"], arguments["tile"], arguments["max_instances"],
            arguments["num_threads"]) == (0.0, (256, 32), 50, 2)
    assert NodeSettings({"model": TINY, "tile_size": 0}).tile() is False
    # the arguments open a real Segmenter
    with Segmenter(**dict(NodeSettings({"model": TINY, "device": "cpu", "score_threshold": 0.25,
                                        "tile_size": 0}).segmenter_arguments())) as seg:
        assert seg.score_threshold == pytest.approx(0.25)
    for values, error, message in [
            ({}, ValueError, "parameter model must name a model file"),
            ({"model": TINY, "mode": "fast"}, ValueError, "parameter mode must be one of 'latency', 'throughput'"),
            ({"model": TINY, "queue_size": 0}, ValueError, r"parameter queue_size must be in \[1, 64\]"),
            ({"model": TINY, "score_threshold": "0.5"}, TypeError, "parameter score_threshold must be a float"),
            ({"model": TINY, "track": 1}, TypeError, "parameter track must be a bool"),
            ({"model": TINY, "max_instances": True}, TypeError, "parameter max_instances must be a int"),
            ({"model": TINY, "tile_size": -2}, ValueError, "tile_size and tile_overlap must be >= -1"),
            ({"model": TINY, "stamp": "later"}, ValueError, "parameter stamp must be one of"),
            ({"model": TINY, "detections": "x"}, ValueError, "unknown parameters: detections")]:
        with pytest.raises(error, match=message):
            NodeSettings(values)
    assert len(PARAMETERS) == 20


def read_flat_yaml(path):
    """The package's parameter file: 'name: value' lines under ros__parameters
    (the file keeps to this subset, so no YAML library is needed here)."""
    values, inside = {}, False
    for line in open(path):
        text = line.split("#", 1)[0].rstrip()
        if not text:
            continue
        if text.strip() == "ros__parameters:":
            inside = True
            continue
        if inside:
            name, value = (part.strip() for part in text.split(":", 1))
            values[name] = ast.literal_eval(value.replace("true", "True").replace("false", "False"))
    return values


def test_parameter_file_manifest_and_setup_agree(package_path):
    from fassst_ros.settings import PARAMETERS, NodeSettings

    values = read_flat_yaml(os.path.join(PACKAGE, "config", "fassst_segmenter.yaml"))
    assert values == dict(PARAMETERS)  # every parameter, with the node's default and type
    for name, value in values.items():
        assert type(value) is type(PARAMETERS[name]), name
    NodeSettings(dict(values, model=TINY))

    manifest = ElementTree.parse(os.path.join(PACKAGE, "package.xml")).getroot()
    assert manifest.get("format") == "3" and manifest.findtext("name") == "fassst_ros"
    assert manifest.find("export").findtext("build_type") == "ament_python"
    depends = {e.text for e in manifest.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "vision_msgs", "std_msgs", "launch_ros"} <= depends

    setup = open(os.path.join(PACKAGE, "setup.py")).read()
    assert '"segment_node = fassst_ros.segment_node:main"' in setup
    for listed in ("resource/", "package.xml", "launch/fassst_segmenter.launch.py", "config/fassst_segmenter.yaml",
                   "README.md"):
        assert listed in setup
    for path in ("resource/fassst_ros", "package.xml", "launch/fassst_segmenter.launch.py",
                 "config/fassst_segmenter.yaml", "README.md", "setup.cfg"):
        assert os.path.isfile(os.path.join(PACKAGE, path)), path
    launch = ast.parse(open(os.path.join(PACKAGE, "launch", "fassst_segmenter.launch.py")).read())
    overridden = [e.elts[0].value for n in ast.walk(launch) if isinstance(n, ast.Assign)
                  and getattr(n.targets[0], "id", "") == "OVERRIDES" for e in n.value.elts]
    assert overridden and set(overridden) <= set(PARAMETERS)


# ------------------------------------------------------------- real message definitions (rosbags)
#
# With the `rosbags` package installed (it is optional: not a dependency of
# fassst_rt), the messages are built from each distribution's vision_msgs
# definitions, filled by the node's own copy code, serialised to CDR and read
# back, and a rosbag2 MCAP file is written and read. Run:
#   pip install rosbags && pytest tests/test_ros_mapping.py -k rosbags   (the test extra has it)

# vision_msgs field declarations (comments dropped) of each major version
VISION_MSGS_COMMON = {
    "Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
}
VISION_MSGS = {
    "foxy": dict(VISION_MSGS_COMMON, **{  # 2.x
        "BoundingBox2D": "geometry_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
        "ObjectHypothesisWithPose": "string id\nfloat64 score\ngeometry_msgs/PoseWithCovariance pose\n",
        "Detection2D": "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
                       "vision_msgs/BoundingBox2D bbox\nsensor_msgs/Image source_img\nbool is_tracking\n"
                       "string tracking_id\n"}),
    "galactic": dict(VISION_MSGS_COMMON, **{  # 3.x
        "BoundingBox2D": "geometry_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
        "ObjectHypothesis": "string class_id\nfloat64 score\n",
        "ObjectHypothesisWithPose": "vision_msgs/ObjectHypothesis hypothesis\n"
                                    "geometry_msgs/PoseWithCovariance pose\n",
        "Detection2D": "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
                       "vision_msgs/BoundingBox2D bbox\nstring id\n"}),
    "humble": dict(VISION_MSGS_COMMON, **{  # 4.x: Humble, Iron, Jazzy
        "Point2D": "float64 x\nfloat64 y\n",
        "Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
        "BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
        "ObjectHypothesis": "string class_id\nfloat64 score\n",
        "ObjectHypothesisWithPose": "vision_msgs/ObjectHypothesis hypothesis\n"
                                    "geometry_msgs/PoseWithCovariance pose\n",
        "Detection2D": "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
                       "vision_msgs/BoundingBox2D bbox\nstring id\n"}),
}
STORES = {"foxy": ("ROS2_FOXY", "foxy"), "galactic": ("ROS2_GALACTIC", "galactic"),
          "humble": ("ROS2_HUMBLE", "humble"), "jazzy": ("ROS2_JAZZY", "humble")}


def typestore_for(distribution):
    typesys = pytest.importorskip("rosbags.typesys")
    store_name, definitions = STORES[distribution]
    store = typesys.get_typestore(getattr(typesys.Stores, store_name))
    types = {}
    for name, text in VISION_MSGS[definitions].items():
        types.update(typesys.get_types_from_msg(text, "vision_msgs/msg/" + name))
    store.register(types)
    return store


def default_message(store, typename):
    """A message of ``typename`` with every field at its ROS default (rosbags'
    classes take every field as an argument)."""
    from rosbags.typesys.base import Nodetype

    numeric = {"bool": np.bool_, "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
               "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
               "float32": np.float32, "float64": np.float64}

    def value(kind, detail):
        if kind == Nodetype.NAME:
            return default_message(store, detail)
        if kind == Nodetype.BASE:
            base = detail[0]
            if base == "string":
                return ""
            return False if base == "bool" else numeric[base](0).item()
        element_kind, element_detail = detail[0]
        if kind == Nodetype.ARRAY and element_kind == Nodetype.BASE:
            return np.zeros(detail[1], numeric[element_detail[0]])
        if kind == Nodetype.SEQUENCE and element_kind == Nodetype.BASE and element_detail[0] != "string":
            return np.zeros(0, numeric[element_detail[0]])
        if kind == Nodetype.ARRAY:
            return [value(element_kind, element_detail) for _ in range(detail[1])]
        return []

    _, fields = store.fielddefs[typename]
    return store.types[typename](**{name: value(*definition) for name, definition in fields})


def node_types(store):
    return tuple((lambda name=name: default_message(store, "vision_msgs/msg/" + name))
                 for name in ("Detection2DArray", "Detection2D", "ObjectHypothesisWithPose"))


def tracked_frame(rng):
    frame = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        instances = seg.run(frame)
    instances.track_ids = np.arange(len(instances), dtype=np.int64) - 1
    return instances


@pytest.mark.parametrize("distribution", ["foxy", "galactic", "humble", "jazzy"])
def test_rosbags_detections_through_cdr(package_path, rng, distribution):
    from fassst_ros.segment_node import detection_array_message

    store = typestore_for(distribution)
    instances = tracked_frame(rng)
    mapped = rm.to_detection_array(instances, HEADER)
    message = detection_array_message(mapped, node_types(store))
    back = store.deserialize_cdr(store.serialize_cdr(message, "vision_msgs/msg/Detection2DArray"),
                                 "vision_msgs/msg/Detection2DArray")
    assert (back.header.stamp.sec, back.header.stamp.nanosec, back.header.frame_id) == (
        HEADER.stamp.sec, HEADER.stamp.nanosec, HEADER.frame_id)
    assert len(back.detections) == len(instances) > 0
    for want, got in zip(mapped.detections, back.detections):
        center = got.bbox.center.position if distribution in ("humble", "jazzy") else got.bbox.center
        assert (center.x, center.y, got.bbox.size_x, got.bbox.size_y) == (
            want.bbox.center.x, want.bbox.center.y, want.bbox.size_x, want.bbox.size_y)
        hypothesis = got.results[0] if distribution == "foxy" else got.results[0].hypothesis
        class_id = hypothesis.id if distribution == "foxy" else hypothesis.class_id
        assert (class_id, hypothesis.score) == (want.results[0].class_id, want.results[0].score)
        assert (got.tracking_id if distribution == "foxy" else got.id) == want.id
        assert got.header.frame_id == HEADER.frame_id


def rosbags_image(store, image):
    message = default_message(store, "sensor_msgs/msg/Image")
    message.header.stamp.sec, message.header.stamp.nanosec = image.header.stamp.sec, image.header.stamp.nanosec
    message.header.frame_id = image.header.frame_id
    message.height, message.width, message.encoding = image.height, image.width, image.encoding
    message.is_bigendian, message.step = image.is_bigendian, image.step
    message.data = np.frombuffer(image.data, np.uint8)
    return message


def test_rosbags_mcap_bag_of_a_segmented_sequence(package_path, rng, tmp_path):
    """Three segmented frames written to a rosbag2 MCAP file and read back:
    the detections and the label images are the frames' own."""
    from fassst_ros.segment_node import detection_array_message

    store = typestore_for("humble")
    rosbag2 = pytest.importorskip("rosbags.rosbag2")
    frames = [rng.integers(0, 256, (150, 200, 3), dtype=np.uint8) for _ in range(3)]
    with Segmenter(TINY, device="cpu", score_threshold=0.0) as seg:
        results = list(seg.stream(frames))
    path = tmp_path / "segmented"
    try:
        writer = rosbag2.Writer(path, version=9, storage_plugin=rosbag2.StoragePlugin.MCAP)
    except TypeError:  # rosbags before 0.10 has no version argument
        writer = rosbag2.Writer(path, storage_plugin=rosbag2.StoragePlugin.MCAP)
    headers = []
    with writer:
        detections = writer.add_connection("/detections", "vision_msgs/msg/Detection2DArray", typestore=store)
        labels = writer.add_connection("/label_image", "sensor_msgs/msg/Image", typestore=store)
        for result in results:
            header = rm.Header(rm.stamp_from_seconds(1718000000 + result.frame / 15), "camera")
            headers.append(header)
            t = header.stamp.sec * 10 ** 9 + header.stamp.nanosec
            message = detection_array_message(rm.to_detection_array(result.instances, header), node_types(store))
            writer.write(detections, t, store.serialize_cdr(message, "vision_msgs/msg/Detection2DArray"))
            image = rosbags_image(store, rm.to_label_image(result.instances, header))
            writer.write(labels, t, store.serialize_cdr(image, "sensor_msgs/msg/Image"))
    assert list(path.glob("*.mcap"))
    read = {"/detections": [], "/label_image": []}
    with rosbag2.Reader(path) as reader:
        for connection, t, data in reader.messages():
            read[connection.topic].append((t, store.deserialize_cdr(data, connection.msgtype)))
    assert [len(v) for v in read.values()] == [3, 3]
    for result, header, (_, d), (_, image) in zip(results, headers, read["/detections"], read["/label_image"]):
        assert (d.header.stamp.sec, d.header.stamp.nanosec) == (header.stamp.sec, header.stamp.nanosec)
        np.testing.assert_allclose(
            [[x.bbox.center.position.x - x.bbox.size_x / 2, x.bbox.center.position.y - x.bbox.size_y / 2]
             for x in d.detections], result.instances.boxes[:, :2].astype(np.float64), rtol=0, atol=1e-9)
        assert [x.results[0].hypothesis.score for x in d.detections] == [float(s) for s in result.instances.scores]
        assert (image.encoding, image.is_bigendian, image.step) == ("mono16", 0, 2 * image.width)
        back = rm.frame_from_image(image.height, image.width, image.encoding, image.is_bigendian, image.step,
                                   image.data)
        np.testing.assert_array_equal(back, result.instances.label_image())
