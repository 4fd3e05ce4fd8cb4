"""The model metadata document: what the runtime needs to know about a model
beyond its graphs (docs/model_files.md).

It is JSON, stored in the frame graph's ONNX ``metadata_props`` under the key
``fassst`` (and beside TensorRT engines in ``NAME.plan.json``). The C++ core
parses and validates it field by field (one validator for Python and C++);
nothing in it is executed.
"""

import json
from typing import Any, Dict, List, Optional, Sequence

from . import _C

METADATA_KEY = "fassst"
FORMAT_VERSION = 1


MetadataError = _C.MetadataError  # a ValueError: the metadata is missing, malformed or inconsistent


class ModelMetadata:
    """Validated metadata of one model. The C++ core validates the document
    (the same validator the C++ API runs); this class carries the fields.

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
        try:
            text = json.dumps(doc, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise MetadataError("{}: the metadata is not a JSON document ({})".format(source, exc)) from None
        self._init_from_text(text, source)

    def _init_from_text(self, text: str, source: str) -> None:
        self.source = source
        fields = _C.parse_metadata(text, source)  # raises MetadataError
        doc = json.loads(text)
        self.input_size = fields["input_size"]  # type: int
        mapping = doc["input_mapping"]
        self.channel_order = fields["channel_order"]  # type: str
        self.mean = [float(v) for v in mapping["mean"]]  # type: List[float]
        self.std = [float(v) for v in mapping["std"]]  # type: List[float]
        self.uint16_mapping = mapping.get("uint16")  # type: Optional[Dict[str, Any]]
        self.input_mapping = mapping  # type: Dict[str, Any]
        self.grid_size = fields["grid_size"]  # type: int
        self.mask_channels = fields["mask_channels"]  # type: int
        self.roi_size = fields["roi_size"]  # type: int
        self.strides = [float(v) for v in doc["strides"]]  # type: List[float]
        self.rff = fields["rff"]  # type: bool
        self.class_names = list(fields["class_names"])  # type: List[str]
        self.score_threshold = float(doc.get("score_threshold", fields["score_threshold"]))
        self.nms_threshold = float(doc.get("nms_threshold", fields["nms_threshold"]))
        self.max_instances = fields["max_instances"]  # type: int
        self.tile = fields["tile"]  # type: Optional[Dict[str, int]]
        self.tail_sha256 = fields["tail_sha256"]  # type: Optional[str]
        self.grid = fields["grid"]  # type: Optional[Dict[str, Any]]
        self.input_scale = float(doc.get("input_scale", fields["input_scale"]))
        known = {"grid", "input_scale", "format", "version", "input_size", "input_mapping", "grid_size", "mask_channels",
                 "roi_size", "strides", "rff", "class_names", "score_threshold", "nms_threshold",
                 "max_instances", "tile", "tail_sha256"}
        self.extra = {k: v for k, v in doc.items() if k not in known}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_cells(self) -> int:
        """Cells of an S x S grid; a stride-grid model's depend on its input
        (cells_for)."""
        return self.grid_size ** 2

    def cells_for(self, height: int, width: int) -> int:
        """Cells of the grid for a height x width network input."""
        if self.grid is None:
            return self.num_cells
        return (height // self.grid["cell"]) * (width // self.grid["cell"])

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
        if self.grid is not None:   # S x S models keep the document they always had
            doc.update(grid=dict(self.grid), input_scale=self.input_scale)
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "metadata") -> "ModelMetadata":
        if not isinstance(text, str):
            raise MetadataError("{}: the '{}' metadata must be text, got {}".format(
                source, METADATA_KEY, type(text).__name__))
        self = cls.__new__(cls)
        self._init_from_text(text, source)
        return self


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
