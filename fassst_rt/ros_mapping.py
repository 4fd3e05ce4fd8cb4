"""Instances as ROS 2 messages, without ROS: plain dataclasses that mirror
``vision_msgs/Detection2DArray`` and a ``mono16`` ``sensor_msgs/Image``
field by field, and the decoding of an incoming ``sensor_msgs/Image`` into a
frame. The ROS 2 node (``ros2/fassst_ros``) copies these into real messages;
keeping the conversion here lets it be tested where ROS 2 is not installed.

Field names follow vision_msgs 4.x (ROS 2 Humble, Iron, Jazzy and later):
``Detection2D.id``, ``ObjectHypothesisWithPose.hypothesis.class_id / score``,
``BoundingBox2D.center`` a ``vision_msgs/Pose2D`` whose ``position.x/y`` is the
box centre. Foxy and Galactic differ; docs/streams.md lists how.
"""

import math
from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

from .results import Instances

MONO16 = "mono16"
UINT16_MAX = 65535
# builtin_interfaces/Time.sec is an int32
_MAX_STAMP_SECONDS = 2 ** 31 - 1


@dataclass
class Time:
    """builtin_interfaces/Time."""
    sec: int = 0
    nanosec: int = 0


@dataclass
class Header:
    """std_msgs/Header."""
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class ObjectHypothesis:
    """vision_msgs/ObjectHypothesis (``pose`` of ObjectHypothesisWithPose is
    left at its default: a 2D detector gives no pose)."""
    class_id: str = ""
    score: float = 0.0


@dataclass
class Pose2D:
    """vision_msgs/Pose2D: ``position`` (x, y) in pixels and ``theta``."""
    x: float = 0.0
    y: float = 0.0
    theta: float = 0.0


@dataclass
class BoundingBox2D:
    """vision_msgs/BoundingBox2D: the centre and the full width/height, pixels."""
    center: Pose2D = field(default_factory=Pose2D)
    size_x: float = 0.0
    size_y: float = 0.0


@dataclass
class Detection2D:
    """vision_msgs/Detection2D (one hypothesis: the instance's class)."""
    header: Header = field(default_factory=Header)
    results: List[ObjectHypothesis] = field(default_factory=list)
    bbox: BoundingBox2D = field(default_factory=BoundingBox2D)
    id: str = ""


@dataclass
class Detection2DArray:
    """vision_msgs/Detection2DArray."""
    header: Header = field(default_factory=Header)
    detections: List[Detection2D] = field(default_factory=list)


@dataclass
class Image:
    """sensor_msgs/Image."""
    header: Header = field(default_factory=Header)
    height: int = 0
    width: int = 0
    encoding: str = ""
    is_bigendian: int = 0
    step: int = 0
    data: bytes = b""


def stamp_from_seconds(seconds: float) -> Time:
    """A builtin_interfaces/Time from seconds since the epoch (a stream's
    capture timestamp)."""
    seconds = float(seconds)
    if not math.isfinite(seconds) or seconds < 0 or seconds >= _MAX_STAMP_SECONDS + 1:
        raise ValueError("stamp seconds must be finite and in [0, 2**31), got {!r}".format(seconds))
    sec = int(math.floor(seconds))
    nanosec = int(round((seconds - sec) * 1e9))
    if nanosec >= 1000000000:  # rounding carried into the next second
        sec, nanosec = sec + 1, nanosec - 1000000000
    return Time(sec, nanosec)


def detection_ids(instances: Instances) -> List[str]:
    """Each detection's ``id``: the decimal track id, or "" (vision_msgs:
    the field may be empty) where the frame was not tracked or the instance
    has no confirmed track (a negative id)."""
    ids = getattr(instances, "track_ids", None)
    if ids is None:
        return [""] * len(instances)
    ids = np.asarray(ids)
    if ids.shape != (len(instances),) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("instances.track_ids must be a ({},) integer array or None, got {} {}".format(
            len(instances), ids.dtype, ids.shape))
    return [str(int(i)) if i >= 0 else "" for i in ids]


def to_detection_array(instances: Instances, header: Header, class_id: str = "name") -> Detection2DArray:
    """Instances -> Detection2DArray, detection i for instance i (so the label
    image's value i + 1 is detection i). ``class_id``: "name" (the model's
    class name) or "label" (the 0-based class index, as a decimal string) in
    the hypothesis; its score is the instance's class probability."""
    if not isinstance(instances, Instances):
        raise TypeError("instances must be a fassst_rt.Instances, got {}".format(type(instances).__name__))
    if not isinstance(header, Header):
        raise TypeError("header must be a fassst_rt.ros_mapping.Header, got {}".format(type(header).__name__))
    if class_id not in ("name", "label"):
        raise ValueError("class_id must be 'name' or 'label', got {!r}".format(class_id))
    ids = detection_ids(instances)
    detections = []
    for i in range(len(instances)):
        x1, y1, x2, y2 = (float(v) for v in instances.boxes[i])
        label = int(instances.labels[i])
        hypothesis = ObjectHypothesis(instances.names[label] if class_id == "name" else str(label),
                                      float(instances.scores[i]))
        bbox = BoundingBox2D(Pose2D((x1 + x2) / 2.0, (y1 + y2) / 2.0, 0.0), x2 - x1, y2 - y1)
        detections.append(Detection2D(_copy_header(header), [hypothesis], bbox, ids[i]))
    return Detection2DArray(_copy_header(header), detections)


def to_label_image(instances: Instances, header: Header) -> Image:
    """The ``mono16`` label image: 0 background, i + 1 where instance i holds
    the pixel (``Instances.label_image()``), values above 65535 clipped to
    65535; little-endian (``is_bigendian`` 0), rows packed (step = 2 * width)."""
    if not isinstance(instances, Instances):
        raise TypeError("instances must be a fassst_rt.Instances, got {}".format(type(instances).__name__))
    if not isinstance(header, Header):
        raise TypeError("header must be a fassst_rt.ros_mapping.Header, got {}".format(type(header).__name__))
    labels = np.minimum(instances.label_image(), UINT16_MAX).astype("<u2")
    height, width = labels.shape
    return Image(_copy_header(header), height, width, MONO16, 0, 2 * width, labels.tobytes())


def to_image(frame: np.ndarray, header: Header, channel_order: str = "bgr") -> Image:
    """A frame as a ``sensor_msgs/Image``: (H, W, 3) uint8 as ``bgr8`` (or
    ``rgb8`` for channel_order "rgb"), (H, W) uint8 as ``mono8``, (H, W)
    uint16 as little-endian ``mono16``; rows packed."""
    if not isinstance(header, Header):
        raise TypeError("header must be a fassst_rt.ros_mapping.Header, got {}".format(type(header).__name__))
    if channel_order not in ("bgr", "rgb"):
        raise ValueError("channel_order must be 'bgr' or 'rgb', got {!r}".format(channel_order))
    shape, dtype = getattr(frame, "shape", None), getattr(frame, "dtype", None)
    if dtype == np.uint8 and len(shape) == 3 and shape[2] == 3:
        encoding, data = channel_order + "8", np.ascontiguousarray(frame)
    elif dtype == np.uint8 and len(shape) == 2:
        encoding, data = "mono8", np.ascontiguousarray(frame)
    elif dtype == np.uint16 and len(shape) == 2:
        encoding, data = MONO16, np.ascontiguousarray(frame, dtype="<u2")
    else:
        raise ValueError("frame must be (H, W, 3) uint8, (H, W) uint8 or (H, W) uint16, got {} {}".format(
            dtype, shape))
    height, width = shape[:2]
    return Image(_copy_header(header), height, width, encoding, 0, data.strides[0], data.tobytes())


# encoding -> (channels, dtype, channel order of the data); sensor_msgs' image_encodings names
_ENCODINGS = {
    "bgr8": (3, np.uint8, "bgr"), "rgb8": (3, np.uint8, "rgb"),
    "bgra8": (4, np.uint8, "bgr"), "rgba8": (4, np.uint8, "rgb"),
    "mono8": (1, np.uint8, None), "8UC1": (1, np.uint8, None), "8UC3": (3, np.uint8, "bgr"),
    "mono16": (1, np.uint16, None), "16UC1": (1, np.uint16, None),
}


def supported_encodings() -> Tuple[str, ...]:
    return tuple(sorted(_ENCODINGS))


def frame_from_image(height: int, width: int, encoding: str, is_bigendian: int, step: int, data: bytes,
                     channel_order: str = "bgr") -> np.ndarray:
    """A sensor_msgs/Image's fields -> the (H, W, C) or (H, W) frame a
    Segmenter built with ``channel_order`` takes: row padding (step beyond
    width * pixel size) removed, 16-bit data in the machine's byte order,
    rgb/bgr swapped where the encoding's order is not ``channel_order``, an
    alpha channel kept (the Segmenter drops it)."""
    if channel_order not in ("bgr", "rgb"):
        raise ValueError("channel_order must be 'bgr' or 'rgb', got {!r}".format(channel_order))
    if encoding not in _ENCODINGS:
        raise ValueError("image encoding {!r} is not supported; expected one of {}".format(
            encoding, ", ".join(supported_encodings())))
    channels, dtype, order = _ENCODINGS[encoding]
    for name, value in (("height", height), ("width", width), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError("image {} must be a non-negative int, got {!r}".format(name, value))
    if height == 0 or width == 0:
        raise ValueError("image is empty: {}x{}".format(width, height))
    item = np.dtype(dtype).itemsize
    row = width * channels * item
    if step < row:
        raise ValueError("image step {} is shorter than a row of {} {} pixels ({} bytes)".format(
            step, width, encoding, row))
    try:  # bytes, bytearray, array.array('B') (rclpy's uint8[]) without a copy
        buffer = np.frombuffer(memoryview(data).cast("B"), np.uint8)
    except TypeError:  # a list of ints
        buffer = np.asarray(data, np.uint8).reshape(-1)
    if buffer.size < step * (height - 1) + row:
        raise ValueError("image data holds {} bytes; {}x{} {} with step {} needs {}".format(
            buffer.size, width, height, encoding, step, step * (height - 1) + row))
    rows = np.lib.stride_tricks.as_strided(buffer, shape=(height, row), strides=(step, 1))
    pixels = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(">" if is_bigendian else "<"))
    frame = pixels.astype(dtype).reshape(height, width, channels) if channels > 1 else \
        pixels.astype(dtype).reshape(height, width)
    if order is not None and order != channel_order:
        swapped = frame[:, :, [2, 1, 0] + ([3] if channels == 4 else [])]
        frame = np.ascontiguousarray(swapped)
    return frame


def _copy_header(header: Header) -> Header:
    return Header(Time(header.stamp.sec, header.stamp.nanosec), header.frame_id)

