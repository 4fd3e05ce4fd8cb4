"""One result row per frame, the table schema the Ray writers get, and the
COCO results made from those rows.

A row holds what the JSON of ``fassst-rt segment --json`` and the JSON lines of
a stream hold (``fassst_rt.stream_output.frame_record`` makes the per-instance
values, ``Instances.rle`` the masks: one encoder for every output), laid out in
columns, one list per field, so that Parquet readers get typed columns:

    source (string), frame (int64: the frame's index in its source, 0 for an
    image), timestamp (float64: a video frame's position in seconds, 0 for an
    image), height, width (int32), labels (list<int64>), names (list<string>),
    scores (list<float32>), boxes (list<fixed 4 x float32>: x1, y1, x2, y2 in
    frame pixels), masks (list<struct<size: list<int64>, counts: list<int64>>>:
    COCO's uncompressed RLE), timings_ms (map<string, float64>), error (string:
    null when the frame was segmented, else why it failed; its lists are then
    empty and height, width null).

pyarrow is imported by the functions that build tables (the ``[ray]`` extra).
"""

from typing import Any, Dict, Iterable, List, Optional

from ..stream_output import frame_record

COLUMNS = ("source", "frame", "timestamp", "height", "width", "labels", "names", "scores", "boxes", "masks",
           "timings_ms", "error")


def schema():
    """The pyarrow schema of the result table."""
    import pyarrow as pa
    rle = pa.struct([("size", pa.list_(pa.int64())), ("counts", pa.list_(pa.int64()))])
    return pa.schema([
        ("source", pa.string()), ("frame", pa.int64()), ("timestamp", pa.float64()),
        ("height", pa.int32()), ("width", pa.int32()),
        ("labels", pa.list_(pa.int64())), ("names", pa.list_(pa.string())),
        ("scores", pa.list_(pa.float32())), ("boxes", pa.list_(pa.list_(pa.float32(), 4))),
        ("masks", pa.list_(rle)), ("timings_ms", pa.map_(pa.string(), pa.float64())),
        ("error", pa.string()),
    ])


def result_row(instances, source: str, frame: int, timestamp: float) -> Dict[str, Any]:
    """The row of one segmented frame."""
    record = frame_record(instances, source, frame, timestamp)
    items = record["instances"]
    return {"source": record["source"], "frame": record["frame"], "timestamp": record["timestamp"],
            "height": instances.image_size[0], "width": instances.image_size[1],
            "labels": [item["label"] for item in items], "names": [item["name"] for item in items],
            "scores": [item["score"] for item in items], "boxes": [item["box"] for item in items],
            "masks": [item["mask"] for item in items],
            "timings_ms": sorted((str(k), float(v)) for k, v in instances.timings.items()),
            "error": None}


def error_row(source: str, frame: int, timestamp: float, error: str) -> Dict[str, Any]:
    """The row of a frame (or a whole file) that could not be segmented."""
    return {"source": str(source), "frame": int(frame), "timestamp": float(timestamp), "height": None,
            "width": None, "labels": [], "names": [], "scores": [], "boxes": [], "masks": [], "timings_ms": [],
            "error": str(error)}


def rows_to_table(rows: List[Dict[str, Any]]):
    """A pyarrow Table of ``rows`` with :func:`schema` (also for no rows)."""
    import pyarrow as pa
    return pa.Table.from_pylist(rows, schema=schema())


def coco_annotations(row: Dict[str, Any], image_id: int) -> List[Dict[str, Any]]:
    """COCO result annotations of one row (category_id = label + 1, as the
    data sets of ``fassst-rt data`` number their categories; bbox x, y, w, h;
    segmentation as the compressed RLE that pycocotools' ``loadRes`` reads,
    converted from the row's RLE by pycocotools itself)."""
    from pycocotools import mask as mask_utils
    out = []
    for label, score, box, mask in zip(row["labels"], row["scores"], row["boxes"], row["masks"]):
        size = [int(v) for v in mask["size"]]
        compressed = mask_utils.frPyObjects({"size": size, "counts": [int(c) for c in mask["counts"]]}, *size)
        x1, y1, x2, y2 = (float(v) for v in box)
        out.append({"image_id": int(image_id), "category_id": int(label) + 1, "score": float(score),
                    "bbox": [x1, y1, x2 - x1, y2 - y1], "area": float(mask_utils.area(compressed)),
                    "segmentation": {"size": size, "counts": compressed["counts"].decode("ascii")}})
    return out


def image_entry(row: Dict[str, Any], image_id: int) -> Dict[str, Any]:
    """The COCO ``images`` entry of a segmented row."""
    return {"id": int(image_id), "file_name": row["source"], "frame": int(row["frame"]),
            "height": int(row["height"]), "width": int(row["width"])}


def frame_keys(rows: Iterable[Dict[str, Any]]) -> List[Any]:
    """(source, frame) of the segmented rows, sorted: image ids are their
    positions + 1, the same for every run over the same inputs."""
    return sorted((r["source"], int(r["frame"])) for r in rows if r.get("error") is None)


def as_plain(value: Any) -> Any:
    """A value read back from Arrow or NumPy as plain Python (lists, dicts,
    ints, floats, str), for JSON."""
    import numpy as np
    if isinstance(value, dict):
        return {k: as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [as_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def optional_error(value: Optional[str]) -> Optional[str]:
    """A row's error as read back: None or a non-empty string."""
    return value if isinstance(value, str) and value else None
