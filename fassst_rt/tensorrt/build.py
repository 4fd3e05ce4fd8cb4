"""``fassst-rt build NAME.onnx -o NAME.plan``: TensorRT engines for this GPU.

Builds the frame engine (``NAME.plan``) and the tail engine
(``NAME.tail.plan``) from the exported ONNX graphs with TensorRT's builder
and ONNX parser, on the device that will run them, and writes
``NAME.plan.json`` beside them (fassst_rt/tensorrt/plan.py).

- precision: ``--fp16`` / ``--fp32`` / ``--int8``; by default FP16 where the
  GPU is fast at it (Xavier 7.2, Orin 8.7, Turing and newer) and FP32 where it
  is not (compute capability 6.1: GTX 10xx / 1080 Ti), and INT8 for a model
  made by ``fassst-rt quantize --target tensorrt`` (explicit quantization: the
  graph's Q/DQ operators carry the scales, no calibrator). The same options
  on every TensorRT: how each is obtained per version is
  ``compat.build_settings`` (FP16 on TensorRT 11 comes from an FP16-typed copy
  of the graphs, ``fp16_graph.py``; ``--fp32`` turns TF32 off).
- profiles: frame engine 1..--max-batch inputs (tuned for --max-batch: tiled
  frames run full batches), tail engine K = 1..n.
- engine cache: engines are stored under a key of model hash + TensorRT
  version + compute capability + precision + profiles; an output whose
  sidecar already has the key is left alone, a cached pair is copied, and
  anything else is built. A change of any part of the key rebuilds.
- timing cache: one per TensorRT version and GPU architecture, shared by all
  builds, which makes rebuilds much faster; one TensorRT cannot read (from
  another version, or damaged) is set aside and the build goes on without it.

TensorRT is imported only when a build starts: without it, the command says
so in one line.
"""

import json
import os
import shutil
import tempfile
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple, TypeVar

from ..atomic import atomic_copy, atomic_write_bytes, atomic_write_text, staged_files
from ..backends.base import ModelError
from ..metadata import MetadataError, ModelMetadata
from ..quantize.targets import is_tensorrt_int8, precision_of
from ..model_files import FRAME_INPUT, METADATA_KEY, TAIL_INPUT, PlanPaths, plan_paths, tail_onnx_path
from . import compat as trt_compat
from . import cuda_memory as cm
from .backend import runtime_problems
from .plan import (DEFAULT_MAX_BATCH, DEFAULT_WORKSPACE_MB, cache_key, default_precision, has_fast_fp16, model_hash,
                   profiles_for, read_sidecar, relative_to, sha256_file, sidecar_document)

if TYPE_CHECKING:
    import tensorrt as trt

Report = Callable[[str], None]


def default_cache_dir() -> str:
    base = os.environ.get("FASSST_RT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "fassst_rt")
    return os.path.join(base, "tensorrt")


# ------------------------------------------------- ONNX metadata, no onnx package

def _varint(data: memoryview, pos: int) -> Tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(data: memoryview) -> List[Tuple[int, int, object]]:
    """Top-level (field number, wire type, value) of one protobuf message;
    nested messages stay bytes."""
    fields = []  # type: List[Tuple[int, int, object]]
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
            fields.append((number, wire, value))
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("a field runs past the end of the data (truncated file?)")
            fields.append((number, wire, data[pos:pos + length]))
            pos += length
        elif wire == 5:
            pos += 4
        else:
            raise ValueError("unknown protobuf wire type {}".format(wire))
    if pos != len(data):
        raise ValueError("the data ends inside a field (truncated file?)")
    return fields


def read_onnx_metadata_props(path: str) -> Dict[str, str]:
    """``metadata_props`` of an ONNX file (ModelProto field 14: key 1, value 2),
    read from the protobuf wire format directly: the build command needs
    neither the onnx package nor onnxruntime on the device. Raises ModelError
    naming the file for anything that is not a readable ONNX model."""
    with open(path, "rb") as f:
        data = memoryview(f.read())
    try:
        fields = _fields(data)
        props = {}
        for number, wire, value in fields:
            if number == 14 and wire == 2 and isinstance(value, memoryview):
                entry = {n: v for n, w, v in _fields(value) if w == 2}
                key, text = entry.get(1), entry.get(2)
                if isinstance(key, memoryview):
                    props[bytes(key).decode("utf-8")] = bytes(text).decode("utf-8") if isinstance(text, memoryview) else ""
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError("{}: not a readable ONNX model ({})".format(path, exc)) from None
    if not any(number == 7 for number, _, _ in fields):  # ModelProto.graph
        raise ModelError("{}: not an ONNX model (it has no graph)".format(path))
    return props


def read_model(frame_onnx: str) -> Tuple[ModelMetadata, str, str, str]:
    """(metadata, tail ONNX path, frame sha256, tail sha256), checked: both
    files exist, the metadata is valid and names this tail file."""
    if os.path.splitext(frame_onnx)[1].lower() != ".onnx":
        raise ValueError("the model must be an exported NAME.onnx, got {!r}".format(frame_onnx))
    tail_onnx = tail_onnx_path(frame_onnx)
    for path, what in ((frame_onnx, "frame graph"), (tail_onnx, "tail graph")):
        if not os.path.isfile(path):
            raise FileNotFoundError("{}: the model's {} does not exist".format(path, what))
    props = read_onnx_metadata_props(frame_onnx)
    if METADATA_KEY not in props:
        raise MetadataError("{}: has no '{}' metadata; export models with `fassst-rt export`".format(
            frame_onnx, METADATA_KEY))
    metadata = ModelMetadata.from_json(props[METADATA_KEY], source=frame_onnx)
    if metadata.grid is not None:   # engines are built for (B, 3, S, S); the grid's H, W need their own profile
        raise ModelError("{}: a stride-grid model (metadata grid.kind 'stride') cannot be built for TensorRT yet; "
                         "run it with the ONNX Runtime backend".format(frame_onnx))
    frame_sha, tail_sha = sha256_file(frame_onnx), sha256_file(tail_onnx)
    if metadata.tail_sha256 and metadata.tail_sha256 != tail_sha:
        raise ModelError("{}: does not belong to {}: its sha256 is {} but the frame graph's metadata names {}; "
                         "export the two files together".format(tail_onnx, frame_onnx, tail_sha,
                                                               metadata.tail_sha256))
    return metadata, tail_onnx, frame_sha, tail_sha


# ------------------------------------------------------------------ building

def check_precision(metadata: ModelMetadata, precision: str, compute_capability: Optional[Tuple[int, int]],
                    source: str) -> None:
    """Whether ``precision`` can be built from this model (and, given its
    compute capability, on this GPU): INT8 needs the ``--target tensorrt``
    form of ``fassst-rt quantize`` (a float graph has no scales; the ``cpu``
    form's unsigned, asymmetric activations are not what TensorRT accepts)
    and a GPU with INT8; a quantized graph builds as INT8 only."""
    record = precision_of(metadata)
    if precision == "int8":
        if not is_tensorrt_int8(metadata):
            what = ("a float model" if record is None else
                    "quantized for --target {}".format(record.get("target")))
            raise ValueError("--int8: {} is {}; make the TensorRT form first: fassst-rt quantize {} "
                             "-o NAME_int8.onnx --target tensorrt --calib TRAINING_FRAMES".format(source, what, source))
        if compute_capability is not None and not trt_compat.has_int8(compute_capability):
            raise ValueError("--int8: this GPU (compute capability {}.{}) has no INT8 arithmetic; build the float "
                             "model with --fp16 or --fp32".format(*compute_capability))
    elif record is not None:
        raise ValueError("--{}: {} is an INT8 model (quantized for --target {}); build it with --int8, or build "
                         "the float model it came from".format(precision, source, record.get("target")))


def build_engine(onnx_path: str, input_name: str, profile: Dict[str, List[int]],
                 settings: trt_compat.BuildSettings, workspace_mb: int, timing_cache: bytes,
                 report: Report) -> Tuple[bytes, bytes]:
    """One engine from one ONNX graph: (serialized engine, updated timing cache)."""
    import tensorrt as trt

    log = trt_compat.errors()
    mark = log.mark()
    logger = trt_compat.process_logger()
    builder = trt.Builder(logger)
    network = builder.create_network(trt_compat.network_flags(settings.strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(onnx_path):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ModelError("{}: TensorRT's ONNX parser rejects it: {}".format(onnx_path, " | ".join(errors[:3])))
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    if [t.name for t in inputs] != [input_name]:
        raise ModelError("{}: the graph must have the one input '{}', it has {}".format(
            onnx_path, input_name, [t.name for t in inputs]))
    shape = inputs[0].shape
    graph_dims = [int(shape[i]) for i in range(len(shape))]
    if len(graph_dims) != 4 or graph_dims[0] != -1 or graph_dims[1:] != profile["max"][1:]:
        raise ModelError("{}: input '{}' has shape {}, expected (-1, {}) (dynamic batch, then the "
                         "metadata's sizes)".format(onnx_path, input_name, graph_dims,
                                                    ", ".join(map(str, profile["max"][1:]))))
    config = builder.create_builder_config()
    trt_compat.set_workspace(config, int(workspace_mb) << 20)
    trt_compat.apply_settings(config, settings)
    optimization = builder.create_optimization_profile()
    optimization.set_shape(input_name, trt.Dims(profile["min"]), trt.Dims(profile["opt"]), trt.Dims(profile["max"]))
    config.add_optimization_profile(optimization)
    cache = usable_timing_cache(config.create_timing_cache, timing_cache, report)
    # ignore_mismatch=False: a cache from another GPU or TensorRT is refused
    # by TensorRT itself (it is keyed by both already).
    config.set_timing_cache(cache, False)
    monitor = trt_compat.attach_progress(config, report)  # referenced until the build returns
    if monitor is None:
        report("  (TensorRT {} reports no progress while it builds; this takes minutes on a Jetson)".format(
            trt.__version__))
    serialized = builder.build_serialized_network(network, config)
    del monitor
    if serialized is None:
        raise RuntimeError("{}: TensorRT could not build an engine: {}".format(onnx_path, log.summary(mark)))
    return bytes(serialized), bytes(config.get_timing_cache().serialize())


CacheT = TypeVar("CacheT")


def usable_timing_cache(create: Callable[[bytes], Optional[CacheT]], data: bytes, report: Report) -> CacheT:
    """A timing cache made by ``create`` (``IBuilderConfig.create_timing_cache``)
    from ``data``; when TensorRT cannot read ``data`` (damaged, or written by
    another version: it raises or returns None, depending on the version), a
    fresh empty cache instead, said in the build log. The build never fails
    over its cache."""
    if data:
        try:
            cache = create(data)
        except (TypeError, RuntimeError, ValueError) as exc:
            cache, why = None, "{}: {}".format(type(exc).__name__, exc)
        else:
            why = "TensorRT returned no cache"
        if cache is not None:
            return cache
        report("  the timing cache is unreadable ({}); building without it (it is rewritten after the build)"
               .format(why))
    cache = create(b"")
    if cache is None:
        raise RuntimeError("TensorRT cannot create an empty timing cache")
    return cache


def read_timing_cache(path: str, report: Report) -> bytes:
    """The timing cache file's bytes, or b"" when there is none or it cannot
    be read (then the build goes on without one)."""
    if not os.path.exists(path):
        return b""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        report("  timing cache {} cannot be read ({}); building without it".format(path, exc))
        return b""
    report("  timing cache {} ({} kB)".format(path, len(data) // 1024))
    return data


def fp16_copy(onnx_path: str, folder: str) -> str:
    """An FP16-typed copy of ``onnx_path`` in ``folder`` (TensorRT 11)."""
    try:
        import onnx  # noqa: F401  # the converter's only dependency
    except ImportError:
        raise RuntimeError("--fp16 on TensorRT 11 builds from an FP16-typed copy of the graphs, which needs the "
                           "onnx package: pip install onnx (or build with --fp32)") from None
    from .fp16_graph import convert_file

    dest = os.path.join(folder, os.path.basename(onnx_path))
    convert_file(onnx_path, dest)
    return dest


def _cached(entry: str, key: str) -> Optional[Tuple[str, str]]:
    """(frame engine, tail engine) from a cache entry whose recorded hashes
    still match, or None."""
    try:
        with open(os.path.join(entry, "entry.json"), encoding="utf-8") as f:
            doc = json.load(f)
        frame, tail = os.path.join(entry, "frame.plan"), os.path.join(entry, "tail.plan")
        if (doc.get("cache_key") == key and sha256_file(frame) == doc.get("frame_sha256")
                and sha256_file(tail) == doc.get("tail_sha256")):
            return frame, tail
    except (OSError, ValueError):
        pass
    return None


def _up_to_date(plan: str, key: str) -> bool:
    try:
        return read_sidecar(plan).cache_key == key  # read_sidecar verifies both engines' sha256
    except (OSError, ValueError):
        return False


def build_engines(onnx: str, output: Optional[str] = None, precision: Optional[str] = None,
                  workspace_mb: int = DEFAULT_WORKSPACE_MB, max_batch: int = DEFAULT_MAX_BATCH, device: int = 0,
                  cache_dir: Optional[str] = None, no_cache: bool = False, force: bool = False,
                  report: Report = print) -> int:
    """``fassst-rt build``: the frame and tail engines of the exported model
    ``onnx`` (NAME.onnx, NAME.tail.onnx beside it) and their sidecar, written
    to ``output`` (default NAME.plan beside the ONNX file). ``precision``
    "fp16" / "fp32" / "int8", None for the default (INT8 for a quantized
    model, else this GPU's). The engine cache (under
    ``cache_dir``, default :func:`default_cache_dir`) is read and filled unless
    ``no_cache``; ``force`` builds even when the output is up to date or
    cached. Progress lines go to ``report``. Returns 0."""
    start = time.monotonic()
    if workspace_mb < 16:
        raise ValueError("--workspace must be at least 16 (MB), got {}".format(workspace_mb))
    frame_onnx = os.fspath(onnx)
    metadata, tail_onnx, frame_sha, tail_sha = read_model(frame_onnx)
    plan = output or os.path.splitext(frame_onnx)[0] + ".plan"
    paths = plan_paths(plan)
    profiles = profiles_for(metadata, max_batch)
    if precision:  # the model's side first: no TensorRT needed to know it cannot work
        check_precision(metadata, precision, None, frame_onnx)

    # What is missing to build here, all at once, before any TensorRT object exists.
    version, problems = runtime_problems()
    if not problems:
        devices = cm.gpu_status().devices
        if device >= devices:
            problems.append("--device {} does not exist ({} CUDA device(s))".format(device, devices))
    if problems or version is None:
        raise RuntimeError("building TensorRT engines needs TensorRT, cuda-python and the NVIDIA GPU that "
                           "will run them: {}".format("; ".join(problems)))

    cm.set_device(device)
    gpu = cm.device_info(device)
    if precision:
        source = "option"
    else:
        precision = default_precision(gpu.compute_capability, version, quantized=precision_of(metadata) is not None)
        source = "default"
    check_precision(metadata, precision, gpu.compute_capability, frame_onnx)
    settings = trt_compat.build_settings(version, precision, has_fast_fp16(gpu.compute_capability))
    key = cache_key(model_hash(frame_sha, tail_sha), version, gpu.compute_capability, precision, profiles)
    cc = "{}.{}".format(*gpu.compute_capability)
    report("fassst-rt build: {} -> {}".format(frame_onnx, paths.frame))
    report("  TensorRT {}, {} (compute capability {}), {}{}".format(
        version, gpu.name, cc, precision, " (this GPU's default)" if source == "default" else ""))
    report("  {}; cache key {}".format(settings.note, key))

    if not force and _up_to_date(paths.frame, key):
        report("up to date: {} already holds these engines".format(paths.sidecar))
        return 0

    cache_dir = cache_dir or default_cache_dir()
    entry = os.path.join(cache_dir, "engines", key)
    cached = None if (no_cache or force) else _cached(entry, key)
    folder = os.path.dirname(os.path.abspath(paths.frame))
    # The two engines and their sidecar are made in a staging folder under their own names and
    # renamed into place together, the engines first and the sidecar (which vouches for them by
    # sha256) last: until then an earlier build stays usable, and a failed build leaves it so.
    with staged_files([paths.tail, paths.frame, paths.sidecar]) as (staged_tail, staged_frame, staged_sidecar):
        if cached is not None:
            report("[1/1] engines found in the cache {}".format(entry))
            shutil.copyfile(cached[0], staged_frame)
            shutil.copyfile(cached[1], staged_tail)
        else:
            _build_both(frame_onnx, tail_onnx, staged_frame, staged_tail, paths, profiles, settings,
                        workspace_mb, version, gpu.compute_capability, cache_dir, no_cache, report)
            if not no_cache:
                _store_in_cache(entry, key, staged_frame, staged_tail)
        doc = sidecar_document(
            metadata=metadata, tensorrt_version=version, compute_capability=gpu.compute_capability,
            device_name=gpu.name, precision=precision, precision_source=source, workspace_mb=workspace_mb,
            profiles=profiles, frame_file=os.path.basename(paths.frame), frame_sha256=sha256_file(staged_frame),
            tail_file=os.path.basename(paths.tail), tail_sha256=sha256_file(staged_tail),
            frame_onnx=relative_to(frame_onnx, folder), frame_onnx_sha256=frame_sha,
            tail_onnx=relative_to(tail_onnx, folder), tail_onnx_sha256=tail_sha,
            extra={"builder": {"strongly_typed": settings.strongly_typed, "flags_set": list(settings.set_flags),
                               "flags_cleared": list(settings.clear_flags), "fp16_graph": settings.fp16_graph,
                               "note": settings.note}})
        with open(staged_sidecar, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        read_sidecar(staged_frame)  # what the runtime will check, checked before anything takes its place
    read_sidecar(paths.frame)
    report("done in {:.0f} s: {}, {}, {}".format(time.monotonic() - start, paths.frame, paths.tail, paths.sidecar))
    return 0


def _build_both(frame_onnx: str, tail_onnx: str, frame_out: str, tail_out: str, paths: PlanPaths,
                profiles: Dict[str, Dict[str, List[int]]], settings: trt_compat.BuildSettings, workspace_mb: int,
                version: str, compute_capability: Tuple[int, int], cache_dir: str, no_cache: bool,
                report: Report) -> None:
    """Builds the frame and tail engines into ``frame_out`` and ``tail_out``
    (from FP16-typed copies of the graphs where ``settings`` say so), with
    the shared timing cache (read when readable, and written back atomically
    unless ``no_cache``)."""
    timing_path = os.path.join(cache_dir, "timing", "trt{}-sm{}{}.cache".format(
        version, compute_capability[0], compute_capability[1]))
    timing = b"" if no_cache else read_timing_cache(timing_path, report)
    with tempfile.TemporaryDirectory(prefix="fassst-build-") as work, trt_compat.echo_to(report):
        sources = [("frame", frame_onnx, FRAME_INPUT, frame_out, paths.frame),
                   ("tail", tail_onnx, TAIL_INPUT, tail_out, paths.tail)]
        if settings.fp16_graph:
            sources = [(which, fp16_copy(onnx_path, work), name, out, shown)
                       for which, onnx_path, name, out, shown in sources]
        for step, (which, onnx_path, input_name, out, shown) in enumerate(sources, 1):
            t0 = time.monotonic()
            report("[{}/2] building the {} engine from {} ...".format(step, which, onnx_path))
            engine, timing = build_engine(onnx_path, input_name, profiles[which], settings, workspace_mb,
                                          timing, report)
            with open(out, "wb") as f:  # a staged file: renamed into place with the others
                f.write(engine)
            report("[{}/2] {} engine: {} ({:.1f} MB) in {:.0f} s".format(
                step, which, shown, len(engine) / 1e6, time.monotonic() - t0))
    if not no_cache:
        atomic_write_bytes(timing_path, timing)


def _store_in_cache(entry: str, key: str, frame: str, tail: str) -> None:
    """Copies the engines into the cache entry, each atomically, and entry.json
    (their sha256, which :func:`_cached` checks) last."""
    atomic_copy(frame, os.path.join(entry, "frame.plan"))
    atomic_copy(tail, os.path.join(entry, "tail.plan"))
    atomic_write_text(os.path.join(entry, "entry.json"), json.dumps(
        {"cache_key": key, "frame_sha256": sha256_file(frame), "tail_sha256": sha256_file(tail)}, indent=2))
