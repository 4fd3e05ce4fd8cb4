"""The model metadata document: what the runtime needs to know about a model
beyond its graphs (docs/model_files.md).

It is JSON, stored in the frame graph's ONNX ``metadata_props`` under the key
``fassst`` (and beside TensorRT engines in ``NAME.plan.json``). It is parsed
with ``json`` only and validated field by field; nothing in it is executed.
"""

import json
from typing import Any, Dict, List, Optional, Sequence

METADATA_KEY = "fassst"
FORMAT_VERSION = 1


class MetadataError(ValueError):
    """The metadata of a model file is missing, malformed or inconsistent."""


class ModelMetadata:
    """Validated metadata of one model.

    Attributes:
        input_size: side of the square network input (letterbox target).
        input_mapping: how frames become network input: ``channel_order``
            ("rgb": the graph wants RGB), ``mean``/``std`` (per channel, on
            x/255), ``uint16`` (the rule mapping 16-bit frames to 8-bit, see
            :mod:`fassst_rt.input_mapping`, or None).
        grid_size: S, the IAM grid is S x S (n = S*S instances at most).
        mask_channels: M, channels of the pyramid mask layers.
        roi_size: S1, side of the fused ROI features (a multiple of 4).
        rff: True when the tail takes the ROI feature fusion of p1, p2, p3;
            False (the paper's Table 9 ablation) when it takes the p1 crop only.
        strides: strides of p1, p2, p3 in input pixels.
        class_names: the labels' names, index = label.
        score_threshold, nms_threshold, max_instances: selection defaults.
        tile: default tiling {"size", "overlap"} for large frames, or None.
        tail_sha256: sha256 of the tail graph file.
        extra: anything else the document carried (training provenance...).
    """

    def __init__(self, doc: Dict[str, Any], source: str = "metadata") -> None:
        self.source = source
        if not isinstance(doc, dict):
            raise MetadataError("{}: expected a JSON object, got {}".format(source, type(doc).__name__))
        version = doc.get("version")
        if version != FORMAT_VERSION:
            raise MetadataError("{}: metadata format version {!r} is not supported (this fassst_rt "
                                "reads version {})".format(source, version, FORMAT_VERSION))
        self.input_size = self._int(doc, "input_size", 32)
        mapping = doc.get("input_mapping")
        if not isinstance(mapping, dict):
            raise MetadataError("{}: input_mapping must be an object, got {!r}".format(source, mapping))
        self.channel_order = mapping.get("channel_order", "rgb")
        if self.channel_order not in ("rgb", "bgr"):
            raise MetadataError("{}: input_mapping.channel_order must be 'rgb' or 'bgr', got {!r}"
                                .format(source, self.channel_order))
        self.mean = self._floats(mapping, "mean", 3, "input_mapping.mean")
        self.std = self._floats(mapping, "std", 3, "input_mapping.std")
        if any(s <= 0 for s in self.std):
            raise MetadataError("{}: input_mapping.std must be > 0, got {}".format(source, self.std))
        self.uint16_mapping = mapping.get("uint16")
        if self.uint16_mapping is not None and not isinstance(self.uint16_mapping, dict):
            raise MetadataError("{}: input_mapping.uint16 must be an object or null".format(source))
        self.input_mapping = mapping
        self.grid_size = self._int(doc, "grid_size", 1)
        self.mask_channels = self._int(doc, "mask_channels", 1)
        self.roi_size = self._int(doc, "roi_size", 4)
        if self.roi_size % 4:
            raise MetadataError("{}: roi_size must be a multiple of 4, got {}".format(source, self.roi_size))
        self.strides = self._floats(doc, "strides", 3, "strides")
        self.rff = doc.get("rff", True)
        if not isinstance(self.rff, bool):
            raise MetadataError("{}: rff must be true or false, got {!r}".format(source, self.rff))
        names = doc.get("class_names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise MetadataError("{}: class_names must be a non-empty list of strings, got {!r}"
                                .format(source, names))
        self.class_names = list(names)  # type: List[str]
        self.score_threshold = self._unit(doc, "score_threshold", 0.3)
        self.nms_threshold = self._unit(doc, "nms_threshold", 0.5)
        self.max_instances = self._int(doc, "max_instances", 0, default=self.grid_size ** 2)
        tile = doc.get("tile")
        if tile is not None:
            if not isinstance(tile, dict):
                raise MetadataError("{}: tile must be an object or null".format(source))
            tile = {"size": self._int(tile, "size", 32, "tile.size"),
                    "overlap": self._int(tile, "overlap", 0, "tile.overlap")}
        self.tile = tile  # type: Optional[Dict[str, int]]
        self.tail_sha256 = doc.get("tail_sha256")
        known = {"format", "version", "input_size", "input_mapping", "grid_size", "mask_channels",
                 "roi_size", "strides", "rff", "class_names", "score_threshold", "nms_threshold",
                 "max_instances", "tile", "tail_sha256"}
        self.extra = {k: v for k, v in doc.items() if k not in known}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_cells(self) -> int:
        return self.grid_size ** 2

    # ------------------------------------------------------------ validation

    def _int(self, doc, key, minimum, name=None, default=None) -> int:
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise MetadataError("{}: {} must be an integer >= {}, got {!r}"
                                .format(self.source, name or key, minimum, value))
        return value

    def _floats(self, doc, key, count, name) -> List[float]:
        value = doc.get(key)
        if (not isinstance(value, list) or len(value) != count
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            raise MetadataError("{}: {} must be a list of {} numbers, got {!r}"
                                .format(self.source, name, count, value))
        return [float(v) for v in value]

    def _unit(self, doc, key, default) -> float:
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise MetadataError("{}: {} must be a number in [0, 1], got {!r}".format(self.source, key, value))
        return float(value)

    # --------------------------------------------------------- serialisation

    def to_dict(self) -> Dict[str, Any]:
        doc = dict(self.extra)
        doc.update({
            "format": METADATA_KEY, "version": FORMAT_VERSION, "input_size": self.input_size,
            "input_mapping": dict(self.input_mapping, channel_order=self.channel_order,
                                  mean=self.mean, std=self.std, uint16=self.uint16_mapping),
            "grid_size": self.grid_size, "mask_channels": self.mask_channels,
            "roi_size": self.roi_size, "strides": self.strides, "rff": self.rff,
            "class_names": self.class_names,
            "score_threshold": self.score_threshold, "nms_threshold": self.nms_threshold,
            "max_instances": self.max_instances, "tile": self.tile, "tail_sha256": self.tail_sha256,
        })
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "metadata") -> "ModelMetadata":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise MetadataError("{}: the '{}' metadata is not valid JSON ({})".format(source, METADATA_KEY, exc))
        return cls(doc, source)


def make_metadata(*, input_size: int, grid_size: int, mask_channels: int, roi_size: int,
                  class_names: Sequence[str], strides: Sequence[float] = (8, 16, 32),
                  mean: Sequence[float] = (0.485, 0.456, 0.406),
                  std: Sequence[float] = (0.229, 0.224, 0.225),
                  uint16: Optional[Dict[str, Any]] = None, score_threshold: float = 0.3,
                  nms_threshold: float = 0.5, max_instances: Optional[int] = None,
                  tile: Optional[Dict[str, int]] = None, tail_sha256: Optional[str] = None,
                  rff: bool = True, **extra: Any) -> ModelMetadata:
    """Builds (and validates) the metadata of an exported model."""
    doc = dict(extra)
    doc.update({
        "format": METADATA_KEY, "version": FORMAT_VERSION, "input_size": int(input_size),
        "input_mapping": {"channel_order": "rgb", "mean": [float(m) for m in mean],
                          "std": [float(s) for s in std], "uint16": uint16},
        "grid_size": int(grid_size), "mask_channels": int(mask_channels), "roi_size": int(roi_size),
        "strides": [float(s) for s in strides], "rff": bool(rff), "class_names": list(class_names),
        "score_threshold": float(score_threshold), "nms_threshold": float(nms_threshold),
        "max_instances": int(max_instances if max_instances is not None else grid_size ** 2),
        "tile": tile, "tail_sha256": tail_sha256,
    })
    return ModelMetadata(doc, "new metadata")
