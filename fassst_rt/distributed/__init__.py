"""Batch segmentation beyond one machine, on Ray Data (docs/distributed.md).

    from fassst_rt import distributed
    distributed.connect()                      # or connect("auto") on a cluster node
    result = distributed.run_job(["frames/"], "out", model="engines/fassst_default.onnx", actors=4)

Sources are image and video files, folders, ``.txt`` lists and URIs Ray Data
reads (:mod:`.inputs`); a pool of actors each holding one ``Segmenter``
(:mod:`.actor`) segments the frames; one row per frame (:mod:`.rows`) is
written by Ray's Parquet or JSON-lines writer, with a COCO results file
(:mod:`.job`). A frame or file that fails is a row with its error; the job goes on.

Ray is imported when a job runs, never by ``import fassst_rt``: the modules
here import on Python 3.8 without Ray (Ray Data itself needs a newer Python;
install ``fassst_rt[ray]``).
"""

from .job import FORMATS, JobResult, class_names_of, connect, frames_dataset, run_job, segment_dataset

__all__ = ["FORMATS", "JobResult", "class_names_of", "connect", "frames_dataset", "run_job", "segment_dataset"]
