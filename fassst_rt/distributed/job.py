"""A segmentation job on Ray Data: sources -> frames -> an actor pool of
Segmenters -> result files (Ray's writers) and a COCO results file.

    out/frames/             one row per frame (Parquet or JSON lines files, Ray's writers)
    out/coco_results.json   COCO result annotations of every segmented frame
    out/coco_images.json    {"images": [...], "categories": [...]}: what the image ids mean
"""

import inspect
import json
import os
import time
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from ..atomic import atomic_open, staged_folder
from .actor import SegmentFrames
from .inputs import FRAME_FILE_SUFFIXES, expand_sources, frames_of_file
from .rows import coco_annotations, frame_keys, image_entry

FORMATS = ("parquet", "jsonl")
FRAMES_FOLDER = "frames"
COCO_RESULTS = "coco_results.json"
COCO_IMAGES = "coco_images.json"


class JobResult(NamedTuple):
    """What a job did: frames segmented, (source, frame, error) of each
    failure, where the results are, and the job's wall time in seconds."""

    ok: int
    failed: List[Tuple[str, int, str]]
    frames_path: str
    coco_path: str
    seconds: float


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ImportError("distributed segmentation needs Ray Data: pip install 'fassst_rt[ray]' ({})".format(
            exc)) from exc
    return ray


def connect(address: Optional[str] = None, **init_args) -> None:
    """Joins the Ray cluster at ``address`` ("auto": the one this node runs,
    "ray://host:10001": a remote one), or starts a local one when ``address``
    is None and none runs here. Nothing is done when Ray is already started."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, **init_args)


def frames_dataset(sources: List[str], readers: int = 2):
    """The Ray Dataset of frame rows of ``sources`` (:mod:`.inputs`), read and
    decoded by at most ``readers`` tasks at a time."""
    if isinstance(readers, bool) or not isinstance(readers, int) or readers < 1:
        raise ValueError("readers must be an int >= 1, got {!r}".format(readers))
    ray = _ray()
    files, uris = expand_sources(list(sources))
    parts = []
    if files:
        # the columns read_binary_files gives (path, bytes): no renaming step, which would be a
        # task needing a CPU the actors may hold
        parts.append(ray.data.from_items([{"path": f, "bytes": b""} for f in files]))
    if uris:
        # no CPU reserved, at most `readers` at once, as for local files below
        no_cpu = {"num_cpus": 0}  # type: Dict[str, Any]
        if "num_cpus" not in inspect.signature(ray.data.read_binary_files).parameters:
            no_cpu = {"ray_remote_args": no_cpu}  # Ray before num_cpus was a parameter of its own
        read = ray.data.read_binary_files(uris, include_paths=True, concurrency=readers,
                                          file_extensions=[s.lstrip(".") for s in FRAME_FILE_SUFFIXES], **no_cpu)
        parts.append(read)
    files_ds = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])
    # num_cpus=0: reading must go on while the actors hold every CPU (else a pool as large
    # as the cluster waits forever for frames no task may read); a task pool of its own
    # bounds how many run at once, which no CPU reservation does any more
    if hasattr(ray.data, "TaskPoolStrategy"):
        return files_ds.flat_map(frames_of_file, num_cpus=0, compute=ray.data.TaskPoolStrategy(size=readers))
    return files_ds.flat_map(frames_of_file, num_cpus=0, concurrency=readers)  # Ray < 2.51 says it so


def segment_dataset(frames, model: str, actors: int = 1, cpus_per_actor: float = 1, gpus_per_actor: float = 0,
                    batch_size: int = 4, device: str = "auto", options: Optional[Dict[str, Any]] = None):
    """``frames`` (rows of :func:`frames_dataset`) segmented by a pool of
    ``actors`` actors, each holding one Segmenter on ``cpus_per_actor`` CPUs
    (its thread count) and ``gpus_per_actor`` GPUs (1 for a TensorRT ``.plan``
    model; Ray then sets the actor's CUDA_VISIBLE_DEVICES). Returns the lazy
    Dataset of result rows (:mod:`.rows`)."""
    for name, value in (("actors", actors), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("{} must be an int >= 1, got {!r}".format(name, value))
    if not cpus_per_actor > 0:
        raise ValueError("cpus_per_actor must be > 0, got {!r}".format(cpus_per_actor))
    if not gpus_per_actor >= 0:
        raise ValueError("gpus_per_actor must be >= 0, got {!r}".format(gpus_per_actor))
    threads = max(1, int(cpus_per_actor))
    ray = _ray()
    # the model path as every node resolves it (the driver's working directory means nothing there)
    constructor = {"model": os.path.abspath(model), "num_threads": threads, "device": device, "options": options}
    return frames.map_batches(SegmentFrames, fn_constructor_kwargs=constructor,
                              compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=cpus_per_actor,
                              num_gpus=gpus_per_actor or None, batch_size=batch_size, batch_format="numpy")


def class_names_of(model: str) -> List[str]:
    """The class names in ``model``'s metadata, read on the driver (a
    ``.plan`` from its sidecar, so a head node without a GPU can read it; an
    ONNX model by opening it on the CPU, which also checks it before the job)."""
    if model.endswith(".plan"):
        from ..tensorrt.plan import read_sidecar
        return list(read_sidecar(model, verify_engines=False).metadata.class_names)
    from ..backends import open_backend
    backend = open_backend(model, device="cpu")
    try:
        return list(backend.metadata.class_names)
    finally:
        backend.close()


def run_job(sources: List[str], output: str, model: str, fmt: str = "parquet", actors: int = 1,
            cpus_per_actor: float = 1, gpus_per_actor: float = 0, batch_size: int = 4, device: str = "auto",
            options: Optional[Dict[str, Any]] = None, class_names: Optional[List[str]] = None,
            readers: int = 2) -> JobResult:
    """Segments every frame of ``sources`` on the connected Ray cluster
    (:func:`connect`) and writes ``output``/frames (``fmt``: "parquet" or
    "jsonl", Ray's writers) and the COCO files (module description).
    ``readers``: tasks reading and decoding files at once.
    ``output`` is a local folder (every node must see it, e.g. a shared file
    system) whose ``frames`` folder is replaced only when the job is done."""
    if fmt not in FORMATS:
        raise ValueError("fmt must be one of {}, got {!r}".format(", ".join(FORMATS), fmt))
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError("output must be a folder, got the file {}".format(output))
    t0 = time.perf_counter()
    frame_rows = frames_dataset(sources, readers)
    results = segment_dataset(frame_rows, model, actors, cpus_per_actor, gpus_per_actor, batch_size, device,
                              options).materialize()
    os.makedirs(output, exist_ok=True)
    frames_path = os.path.join(output, FRAMES_FOLDER)
    with staged_folder(frames_path) as staging:  # a new frames folder appears whole, or not at all
        if fmt == "parquet":
            results.write_parquet(staging)
        else:
            # pandas' most digits: a float32 score or box value needs 9 to read back exactly
            results.write_json(staging, double_precision=15)
    frames = list(_plain_rows(results, ["source", "frame", "height", "width", "error"]))
    failed = sorted((r["source"], int(r["frame"]), r["error"]) for r in frames if r["error"] is not None)
    coco_path = os.path.join(output, COCO_RESULTS)
    if class_names is None:
        class_names = class_names_of(model)
    _write_coco(results, frames, coco_path, os.path.join(output, COCO_IMAGES), class_names)
    return JobResult(len(frames) - len(failed), failed, frames_path, coco_path, time.perf_counter() - t0)


def _plain_rows(dataset, columns: List[str]):
    """The rows of ``dataset`` (its ``columns``) as plain Python values."""
    for table in dataset.select_columns(columns).iter_batches(batch_format="pyarrow"):
        for row in table.to_pylist():
            yield row


def _write_coco(results, frames: List[Dict[str, Any]], results_path: str, images_path: str,
                class_names: List[str]) -> None:
    """The COCO files of the result rows: ``frames`` (source, frame, height,
    width, error of every row) give the image ids; the annotations are
    streamed from ``results`` a batch at a time, never all in memory."""
    ids = {key: i + 1 for i, key in enumerate(frame_keys(frames))}
    with atomic_open(results_path) as f:
        f.write("[")
        first = True
        for row in _plain_rows(results, ["source", "frame", "labels", "scores", "boxes", "masks", "error"]):
            if row["error"] is not None:
                continue
            for annotation in coco_annotations(row, ids[(row["source"], int(row["frame"]))]):
                f.write(("" if first else ",\n") + json.dumps(annotation))
                first = False
        f.write("]\n")
    done = sorted((r for r in frames if r["error"] is None), key=lambda r: ids[(r["source"], int(r["frame"]))])
    images = [image_entry(r, ids[(r["source"], int(r["frame"]))]) for r in done]
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]
    with atomic_open(images_path) as f:
        json.dump({"images": images, "categories": categories}, f)


__all__ = ["class_names_of", "connect", "frames_dataset", "segment_dataset", "run_job", "JobResult", "FORMATS"]
