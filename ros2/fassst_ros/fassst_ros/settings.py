"""The node's parameters and what they become (a Segmenter's arguments, a
stream source), without ROS: importable and testable where ROS 2 is not
installed."""

from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Union

# name -> default. The default's type is the parameter's type (rclpy types a
# declared parameter by its default): write 0.3, not 0, for a float.
PARAMETERS = OrderedDict([  # type: Dict[str, Any]
    ("model", ""),                  # NAME.onnx or NAME.plan (tail graph and metadata beside it)
    ("backend", "auto"),            # "auto" (from the suffix) or a registered backend name
    ("device", "auto"),             # "auto", "cpu" or "cuda"
    ("source", ""),                 # "": subscribe to image_topic; else a camera index, /dev/videoN,
                                    # a URL, "gst:PIPELINE", a video file or a folder
    ("mode", "latency"),            # stream mode for source: "latency" or "throughput"
    ("queue_size", 4),              # stream queue length, 1 to 64
    ("image_topic", "image"),
    ("detections_topic", "detections"),
    ("label_image_topic", "label_image"),
    ("publish_label_image", True),
    ("frame_id", "camera"),         # header.frame_id of what a source (not a topic) gives
    ("stamp", "capture"),           # for a source: "capture" (its capture time) or "now" (the node's clock)
    ("class_id", "name"),           # the hypothesis' class_id: "name" or "label" (0-based index)
    ("score_threshold", -1.0),      # < 0: the model's default
    ("nms_threshold", -1.0),        # < 0: the model's default
    ("max_instances", 0),           # <= 0: the model's default
    ("tile_size", -1),              # -1: the model's default, 0: never tile, > 0: tile size in pixels
    ("tile_overlap", -1),           # -1: tile_size // 4
    ("num_threads", 0),             # 0: all cores
    ("track", False),               # track ids (fassst_rt.tracking) as the detections' id
])

Source = Union[None, int, str]


def parse_source(text: str) -> Source:
    """The ``source`` parameter as ``Segmenter.stream`` takes it: "" -> None
    (subscribe to a topic instead), a decimal number -> a camera index,
    anything else unchanged (a path, a URL, ``gst:...``)."""
    if not isinstance(text, str):
        raise TypeError("parameter source must be a string, got {!r}".format(text))
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    return text


def _choice(values: Mapping[str, Any], name: str, allowed) -> str:
    value = values[name]
    if value not in allowed:
        raise ValueError("parameter {} must be one of {}, got {!r}".format(
            name, ", ".join(repr(a) for a in allowed), value))
    return value


class NodeSettings:
    """The node's parameters, checked: each bad value raises ValueError or
    TypeError naming the parameter, what it expects and what came."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        unknown = sorted(set(values) - set(PARAMETERS))
        if unknown:
            raise ValueError("unknown parameters: {} (known: {})".format(", ".join(unknown), ", ".join(PARAMETERS)))
        merged = dict(PARAMETERS)  # type: Dict[str, Any]
        merged.update(values)
        for name, default in PARAMETERS.items():
            value = merged[name]
            expected = float if isinstance(default, float) else type(default)
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                ok, merged[name] = True, float(value)
            if not ok:
                raise TypeError("parameter {} must be a {}, got {!r}".format(name, expected.__name__, value))
        if not merged["model"]:
            raise ValueError("parameter model must name a model file (NAME.onnx or NAME.plan), got ''")
        self.values = merged
        self.source = parse_source(merged["source"])
        self.mode = _choice(merged, "mode", ("latency", "throughput"))
        self.stamp = _choice(merged, "stamp", ("capture", "now"))
        self.class_id = _choice(merged, "class_id", ("name", "label"))
        if not 1 <= merged["queue_size"] <= 64:
            raise ValueError("parameter queue_size must be in [1, 64], got {}".format(merged["queue_size"]))
        for name in ("image_topic", "detections_topic"):
            if not merged[name]:
                raise ValueError("parameter {} must be a topic name, got ''".format(name))
        if merged["publish_label_image"] and not merged["label_image_topic"]:
            raise ValueError("parameter label_image_topic must be a topic name when publish_label_image is true")
        if merged["tile_size"] < -1 or merged["tile_overlap"] < -1:
            raise ValueError("parameters tile_size and tile_overlap must be >= -1, got {} and {}".format(
                merged["tile_size"], merged["tile_overlap"]))
        if merged["num_threads"] < 0:
            raise ValueError("parameter num_threads must be >= 0, got {}".format(merged["num_threads"]))

    def tile(self):
        """The Segmenter's ``tile`` argument."""
        size, overlap = self.values["tile_size"], self.values["tile_overlap"]
        if size == -1:
            return None
        if size == 0:
            return False
        return (size, overlap)

    def segmenter_arguments(self) -> Dict[str, Any]:
        """Keyword arguments of ``fassst_rt.Segmenter``: a negative or zero
        "default" value becomes None (the model's default)."""
        v = self.values

        def positive_or_none(x):
            return x if x > 0 else None

        return {"path": v["model"], "backend": v["backend"], "device": v["device"],
                "score_threshold": v["score_threshold"] if v["score_threshold"] >= 0 else None,
                "nms_threshold": v["nms_threshold"] if v["nms_threshold"] >= 0 else None,
                "max_instances": positive_or_none(v["max_instances"]), "tile": self.tile(),
                "num_threads": positive_or_none(v["num_threads"])}

    def stream_arguments(self) -> Optional[Dict[str, Any]]:
        """Keyword arguments of ``Segmenter.stream``, or None when the node
        subscribes to ``image_topic`` instead."""
        if self.source is None:
            return None
        return {"source": self.source, "mode": self.mode, "queue_size": self.values["queue_size"]}
