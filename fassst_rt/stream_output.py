"""One JSON object per frame of a stream (JSON lines, DESIGN section 6).

A line::

    {"source": "camera 0", "frame": 12, "timestamp": 1718000000.25,
     "instances": [{"id": 3, "label": 0, "name": "nucleus", "score": 0.91,
                    "box": [x1, y1, x2, y2], "mask": {"size": [H, W], "counts": [...]}}]}

``id`` is the instance's track id, or null when the frame was not tracked or
the tracker gave the instance no confirmed track (a negative id). ``mask`` is
COCO's uncompressed run-length encoding (column-major; pycocotools'
``frPyObjects`` reads it), or absent when masks are not asked for.
"""

import json
import math
from typing import Any, Dict, IO, Iterable, List, Optional

import numpy as np

from .results import Instances


def track_ids_of(instances: Instances) -> List[Optional[int]]:
    """Each instance's track id, None where it has none: the frame was not
    tracked (``track_ids`` absent or None) or the id is negative (the
    tracker's mark for an unconfirmed track)."""
    ids = getattr(instances, "track_ids", None)
    if ids is None:
        return [None] * len(instances)
    ids = np.asarray(ids)
    if ids.shape != (len(instances),) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("instances.track_ids must be a ({},) integer array or None, got {} {}".format(
            len(instances), ids.dtype, ids.shape))
    return [int(i) if i >= 0 else None for i in ids]


def frame_record(instances: Instances, source: str, frame: int, timestamp: float,
                 with_masks: bool = True) -> Dict[str, Any]:
    """The JSON object of one frame, as plain Python values."""
    if not isinstance(instances, Instances):
        raise TypeError("instances must be a fassst_rt.Instances, got {}".format(type(instances).__name__))
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
        raise TypeError("frame must be an int, got {!r}".format(frame))
    timestamp = float(timestamp)
    if not math.isfinite(timestamp):
        raise ValueError("timestamp must be a finite number of seconds, got {!r}".format(timestamp))
    ids = track_ids_of(instances)
    masks = instances.rle() if with_masks else None
    items = []
    for i in range(len(instances)):
        label = int(instances.labels[i])
        item = {"id": ids[i], "label": label, "name": instances.names[label],
                "score": float(instances.scores[i]),
                "box": [float(v) for v in instances.boxes[i]]}  # type: Dict[str, Any]
        if masks is not None:
            item["mask"] = masks[i]
        items.append(item)
    return {"source": str(source), "frame": int(frame), "timestamp": timestamp, "instances": items}


def result_to_json_line(result: Any, with_masks: bool = True) -> str:
    """One JSON line (no trailing newline) for a stream result: anything with
    ``source``, ``frame``, ``timestamp`` and ``instances``
    (:class:`fassst_rt.segmenter.StreamResult`)."""
    missing = [f for f in ("source", "frame", "timestamp", "instances") if not hasattr(result, f)]
    if missing:
        raise TypeError("result must be a StreamResult (source, frame, timestamp, instances); {} has no {}".format(
            type(result).__name__, ", ".join(missing)))
    record = frame_record(result.instances, result.source, result.frame, result.timestamp, with_masks)
    # allow_nan=False: a NaN must fail here rather than write a line other JSON readers reject
    return json.dumps(record, allow_nan=False, separators=(",", ":"))


def write_json_lines(results: Iterable[Any], out: IO[str], with_masks: bool = True) -> int:
    """Writes one line per result to the text file ``out``, flushing after
    each (a reader tailing the file sees whole frames); returns the count."""
    count = 0
    for result in results:
        out.write(result_to_json_line(result, with_masks))
        out.write("\n")
        out.flush()
        count += 1
    return count
