"""The Ray Data actor that segments frames: one ``Segmenter`` per actor,
made once when the actor starts, run on every batch of frame rows it gets."""

from typing import Any, Dict, List, Optional

from .. import opencv_io
from .rows import error_row, result_row, rows_to_table


class SegmentFrames:
    """A callable class for ``Dataset.map_batches``: frame rows (``source``,
    ``frame``, ``timestamp``, ``image`` encoded bytes, ``error``) in, result
    rows (:mod:`fassst_rt.distributed.rows`) out, as a pyarrow Table.

    ``num_threads``: ONNX Runtime's and the core's threads, the CPUs Ray gave
    the actor (``num_cpus`` of ``map_batches``), so that actors sharing a node
    do not oversubscribe its cores. ``options``: the other ``Segmenter``
    arguments (thresholds, tiling, ``channel_order``)."""

    def __init__(self, model: str, num_threads: Optional[int] = None, device: str = "auto",
                 options: Optional[Dict[str, Any]] = None) -> None:
        from ..segmenter import Segmenter
        self.segmenter = Segmenter(model, device=device, num_threads=num_threads, **dict(options or {}))

    def __call__(self, batch: Dict[str, Any]):
        rows = []  # type: List[Dict[str, Any]]
        for source, frame, timestamp, image, error in zip(batch["source"], batch["frame"], batch["timestamp"],
                                                          batch["image"], batch["error"]):
            source, frame, timestamp = str(source), int(frame), float(timestamp)
            if error:
                rows.append(error_row(source, frame, timestamp, str(error)))
                continue
            try:
                name = source if frame == 0 else "{} frame {}".format(source, frame)
                instances = self.segmenter.run(opencv_io.decode_image(bytes(image), name))
                rows.append(result_row(instances, source, frame, timestamp))
            except Exception as exc:  # reported as a row; the job goes on
                message = str(exc) or type(exc).__name__
                rows.append(error_row(source, frame, timestamp,
                                      message if source in message else "{}: {}".format(source, message)))
        return rows_to_table(rows)
