"""A rosbag2 file (MCAP) of a segmented stream, written without ROS: per
frame the input ``sensor_msgs/Image``, the ``vision_msgs/Detection2DArray``
(track ids as the detections' ``id``) and the ``mono16`` label image, all
with the same header, as the ROS 2 node (``ros2/fassst_ros``) publishes
them. The messages come from :mod:`fassst_rt.ros_mapping`; the optional
``rosbags`` package (Python >= 3.10) serialises them and writes the bag.

    python -m fassst_rt.ros_bag SOURCE OUT_BAG [--model M] [--track] [--frame-id camera]

Messages follow ROS 2 Humble / Jazzy (vision_msgs 4.x); ``rosbags`` has
no vision_msgs, so its definitions are registered here.
"""

import argparse
from typing import Any, Dict, Iterable, Optional

import numpy as np

from . import ros_mapping as rm

# vision_msgs 4.x (Humble, Iron, Jazzy): the field declarations of the messages used
VISION_MSGS = {
    "Point2D": "float64 x\nfloat64 y\n",
    "Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "ObjectHypothesis": "string class_id\nfloat64 score\n",
    "ObjectHypothesisWithPose": "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n",
    "Detection2D": "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
                   "vision_msgs/BoundingBox2D bbox\nstring id\n",
    "Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
}
DETECTIONS, IMAGE = "vision_msgs/msg/Detection2DArray", "sensor_msgs/msg/Image"
# topic -> message type, as the node publishes (its default topic names)
TOPICS = {"/image": IMAGE, "/detections": DETECTIONS, "/label_image": IMAGE}


def typestore():
    """rosbags' Humble message store with vision_msgs 4.x added."""
    try:
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    except ImportError:
        raise ImportError("writing a rosbag2 file needs the rosbags package (Python >= 3.10): "
                          "pip install rosbags") from None
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = {}  # type: Dict[str, Any]
    for name, text in VISION_MSGS.items():
        types.update(get_types_from_msg(text, "vision_msgs/msg/" + name))
    store.register(types)
    return store


class _Messages:
    """ros_mapping's dataclasses as the store's message objects."""

    def __init__(self, store) -> None:
        self.t = store.types

    def header(self, header: rm.Header):
        stamp = self.t["builtin_interfaces/msg/Time"](sec=header.stamp.sec, nanosec=header.stamp.nanosec)
        return self.t["std_msgs/msg/Header"](stamp=stamp, frame_id=header.frame_id)

    def image(self, image: rm.Image):
        return self.t[IMAGE](header=self.header(image.header), height=image.height, width=image.width,
                             encoding=image.encoding, is_bigendian=image.is_bigendian, step=image.step,
                             data=np.frombuffer(image.data, np.uint8))

    def detections(self, array: rm.Detection2DArray):
        t = self.t
        no_pose = t["geometry_msgs/msg/PoseWithCovariance"](
            pose=t["geometry_msgs/msg/Pose"](position=t["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
                                             orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0,
                                                                                          w=1.0)),
            covariance=np.zeros(36, np.float64))
        detections = []
        for d in array.detections:
            results = [t["vision_msgs/msg/ObjectHypothesisWithPose"](
                hypothesis=t["vision_msgs/msg/ObjectHypothesis"](class_id=h.class_id, score=h.score), pose=no_pose)
                for h in d.results]
            centre = t["vision_msgs/msg/Pose2D"](position=t["vision_msgs/msg/Point2D"](x=d.bbox.center.x,
                                                                                        y=d.bbox.center.y),
                                                 theta=d.bbox.center.theta)
            bbox = t["vision_msgs/msg/BoundingBox2D"](center=centre, size_x=d.bbox.size_x, size_y=d.bbox.size_y)
            detections.append(t["vision_msgs/msg/Detection2D"](header=self.header(d.header), results=results,
                                                                bbox=bbox, id=d.id))
        return t[DETECTIONS](header=self.header(array.header), detections=detections)


class BagWriter:
    """Writes stream results (``Segmenter.stream``'s) into a new rosbag2
    MCAP bag at ``path`` (a folder rosbags creates; it must not exist)."""

    def __init__(self, path: str, frame_id: str = "camera", class_id: str = "name") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        self.store = typestore()
        self._messages = _Messages(self.store)
        self.frame_id, self.class_id = frame_id, class_id
        self._writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections = {topic: self._writer.add_connection(topic, kind, typestore=self.store)
                             for topic, kind in TOPICS.items()}
        self.frames = 0

    def write(self, result, header: Optional[rm.Header] = None) -> rm.Header:
        """One frame: its image, detections and label image, stamped with the
        result's timestamp (or ``header``); returns the header used."""
        if header is None:
            header = rm.Header(rm.stamp_from_seconds(result.timestamp), self.frame_id)
        t = header.stamp.sec * 10 ** 9 + header.stamp.nanosec
        messages = {
            "/image": self._messages.image(rm.to_image(result.image, header)),
            "/detections": self._messages.detections(
                rm.to_detection_array(result.instances, header, class_id=self.class_id)),
            "/label_image": self._messages.image(rm.to_label_image(result.instances, header)),
        }
        for topic, message in messages.items():
            self._writer.write(self._connections[topic], t, self.store.serialize_cdr(message, TOPICS[topic]))
        self.frames += 1
        return header

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_bag(path: str, results: Iterable, frame_id: str = "camera") -> int:
    """Every result of ``results`` into a new bag at ``path``; the frame count."""
    with BagWriter(path, frame_id=frame_id) as bag:
        for result in results:
            bag.write(result)
        return bag.frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fassst_rt.ros_bag", description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a video file, folder of images, camera, URL (as fassst-rt track takes)")
    parser.add_argument("bag", help="the rosbag2 folder to create")
    parser.add_argument("-m", "--model", default=None)
    parser.add_argument("--track", action="store_true", help="track ids as the detections' id")
    parser.add_argument("--frame-id", default="camera", help="the messages' header.frame_id")
    args = parser.parse_args(argv)
    from .models import default_model_path
    from .segmenter import Segmenter
    with Segmenter(args.model or default_model_path()) as seg:
        source = int(args.source) if args.source.isdigit() else args.source
        count = write_bag(args.bag, seg.stream(source, track=args.track), frame_id=args.frame_id)
    print("{}: {} frames ({})".format(args.bag, count, ", ".join(TOPICS)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
