"""``NAME.plan.json``: what a pair of TensorRT engines was built from and for.

``fassst-rt build NAME.onnx -o NAME.plan`` writes three files side by side:
``NAME.plan`` (frame engine), ``NAME.tail.plan`` (tail engine), both exactly
as TensorRT serialised them (trtexec and Polygraphy load them), and this
sidecar. The sidecar holds the model metadata (the same ``fassst`` document
the ONNX frame graph carries), the TensorRT version and GPU compute
capability the engines were built with, the precision, the optimization
profiles, the sha256 of both engines and of the ONNX files they came from,
and the engine cache key.

Everything here is plain Python (json, hashlib): a plan can be inspected and
checked on a machine without TensorRT or a GPU, and the tests run here.
"""

import hashlib
import json
import os
import shlex
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..backends.base import ModelError
from ..hashing import sha256_file as sha256_file  # re-exported: the sidecar checks use it
from ..metadata import MetadataError, ModelMetadata
from ..model_files import FRAME_INPUT, METADATA_KEY, TAIL_INPUT, plan_paths
from .compat import parse_version

SIDECAR_FORMAT = "fassst-tensorrt"
SIDECAR_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_MAX_BATCH = 8       # frames (or tiles) per frame-engine call; larger batches run in chunks
DEFAULT_WORKSPACE_MB = 1024


# ------------------------------------------------------- device and precision

def has_fast_fp16(compute_capability: Tuple[int, int]) -> bool:
    """Whether a GPU runs FP16 arithmetic at least as fast as FP32. Consumer
    Pascal (6.1: GTX 10xx, 1080 Ti) runs FP16 at 1/64 of the FP32 rate, and
    Maxwell 5.0/5.2 has no FP16 arithmetic; 5.3 (Jetson Nano), 6.0 (P100),
    6.2 (Jetson TX2) and everything from Volta 7.0 on (Xavier 7.2, Orin 8.7)
    have fast FP16."""
    cc = tuple(compute_capability)
    return cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0)


def default_precision(compute_capability: Tuple[int, int], tensorrt_version: str, quantized: bool = False) -> str:
    """INT8 for a quantized model (the only precision its Q/DQ graph builds
    in); otherwise FP16 where the GPU is fast at it, else FP32. The same on
    every TensorRT version (on 11.x FP16 comes from an FP16-typed copy of the
    graphs: compat.build_settings)."""
    parse_version(tensorrt_version)  # a malformed version is an error here too
    if quantized:
        return "int8"
    return "fp16" if has_fast_fp16(compute_capability) else "fp32"


# ------------------------------------------------------------------- cache key

def model_hash(frame_onnx_sha256: str, tail_onnx_sha256: str) -> str:
    """One hash for the pair of ONNX graphs an engine pair is built from."""
    return hashlib.sha256("{}:{}".format(frame_onnx_sha256, tail_onnx_sha256).encode()).hexdigest()


def cache_key(model_sha256: str, tensorrt_version: str, compute_capability: Tuple[int, int],
              precision: str, profiles: Dict[str, Dict[str, List[int]]]) -> str:
    """The key engines are cached under: everything that makes an engine
    different. The model, the TensorRT version (engines load only in the
    version that built them), the GPU's compute capability (kernels are built
    for one architecture), the precision, and the optimization profiles (the
    shapes an engine accepts). Readable prefix, sha256 of the canonical JSON."""
    if precision not in PRECISIONS:
        raise ValueError("precision must be one of {}, got {!r}".format(PRECISIONS, precision))
    cc = [int(c) for c in compute_capability]
    doc = {"model": model_sha256, "tensorrt": ".".join(str(v) for v in parse_version(tensorrt_version)),
           "compute_capability": cc, "precision": precision, "profiles": profiles}
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return "trt{}-sm{}{}-{}-{}".format(doc["tensorrt"], cc[0], cc[1], precision, digest[:16])


def profiles_for(metadata: ModelMetadata, max_batch: int = DEFAULT_MAX_BATCH) -> Dict[str, Dict[str, List[int]]]:
    """Optimization profiles of the two engines. Frame engine: 1..max_batch
    inputs of (3, S, S), tuned for max_batch: a tiled frame (the shipped
    model tiles every frame larger than its input) runs full batches, and
    TensorRT picks its kernels for the opt shape. Tail engine: K = 1..n selected instances (n = S*S
    grid cells, the most one input can hold), tuned for n/2; calls with more
    instances (batches of frames) run in chunks of n."""
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError("max_batch must be an integer >= 1, got {!r}".format(max_batch))
    s, m, s1, n = metadata.input_size, metadata.mask_channels, metadata.roi_size, metadata.num_cells
    return {
        "frame": {"min": [1, 3, s, s], "opt": [max_batch, 3, s, s], "max": [max_batch, 3, s, s]},
        "tail": {"min": [1, m, s1, s1], "opt": [max(1, n // 2), m, s1, s1], "max": [n, m, s1, s1]},
    }


# ---------------------------------------------------------------- the sidecar

class EngineEntry(NamedTuple):
    file: str          # engine file name, beside the sidecar
    sha256: str
    onnx: str          # the ONNX file it was built from (relative to the sidecar's folder when possible)
    onnx_sha256: str
    input: str         # the engine's input tensor
    min: List[int]     # its optimization profile
    opt: List[int]
    max: List[int]


class PlanInfo(NamedTuple):
    path: str                          # the sidecar
    tensorrt_version: str
    compute_capability: Tuple[int, int]
    device_name: str
    precision: str
    precision_source: str              # "default" (chosen for the device) or "option" (--fp16/--fp32)
    workspace_mb: int
    max_batch: int
    cache_key: str
    model_sha256: str
    frame: EngineEntry
    tail: EngineEntry
    metadata: ModelMetadata


def _require(doc: Dict[str, Any], key: str, kind: Any, where: str, source: str) -> Any:
    value = doc.get(key)
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ModelError("{}: {}{} must be {}, got {!r}".format(source, where, key, names, value))
    return value


def _shape(doc: Dict[str, Any], key: str, where: str, source: str) -> List[int]:
    value = doc.get(key)
    if (not isinstance(value, list) or len(value) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise ModelError("{}: {}{} must be a list of 4 positive integers, got {!r}".format(
            source, where, key, value))
    return list(value)


def _engine_entry(doc: Any, which: str, source: str) -> EngineEntry:
    where = "engines.{}.".format(which)
    if not isinstance(doc, dict):
        raise ModelError("{}: engines.{} must be an object, got {!r}".format(source, which, doc))
    profile = _require(doc, "profile", dict, where, source)
    entry = EngineEntry(
        file=_require(doc, "file", str, where, source), sha256=_require(doc, "sha256", str, where, source),
        onnx=_require(doc, "onnx", str, where, source),
        onnx_sha256=_require(doc, "onnx_sha256", str, where, source),
        input=_require(doc, "input", str, where, source),
        min=_shape(profile, "min", where + "profile.", source),
        opt=_shape(profile, "opt", where + "profile.", source),
        max=_shape(profile, "max", where + "profile.", source))
    if not all(a <= b <= c for a, b, c in zip(entry.min, entry.opt, entry.max)):
        raise ModelError("{}: {}profile must have min <= opt <= max in every dimension, got {} / {} / {}"
                         .format(source, where, entry.min, entry.opt, entry.max))
    return entry


def parse_sidecar(doc: Any, source: str) -> PlanInfo:
    """Validates a sidecar document field by field (errors name ``source``
    and the field) and its consistency with the model metadata it carries."""
    if not isinstance(doc, dict):
        raise ModelError("{}: expected a JSON object, got {}".format(source, type(doc).__name__))
    if doc.get("format") != SIDECAR_FORMAT or doc.get("version") != SIDECAR_VERSION:
        raise ModelError("{}: not a fassst_rt TensorRT sidecar of version {} (format {!r}, version {!r}); "
                         "rebuild the engines with `fassst-rt build`".format(
                             source, SIDECAR_VERSION, doc.get("format"), doc.get("version")))
    version = _require(doc, "tensorrt_version", str, "", source)
    try:
        parse_version(version)
    except ValueError:
        raise ModelError("{}: tensorrt_version must look like '8.6.1.6', got {!r}".format(source, version)) from None
    cc = doc.get("compute_capability")
    if (not isinstance(cc, list) or len(cc) != 2
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cc)):
        raise ModelError("{}: compute_capability must be [major, minor], got {!r}".format(source, cc))
    precision = _require(doc, "precision", str, "", source)
    if precision not in PRECISIONS:
        raise ModelError("{}: precision must be one of {}, got {!r}".format(source, list(PRECISIONS), precision))
    precision_source = doc.get("precision_source", "option")
    if precision_source not in ("default", "option"):
        raise ModelError("{}: precision_source must be 'default' or 'option', got {!r}".format(
            source, precision_source))
    engines = _require(doc, "engines", dict, "", source)
    frame = _engine_entry(engines.get("frame"), "frame", source)
    tail = _engine_entry(engines.get("tail"), "tail", source)
    fassst = doc.get(METADATA_KEY)
    if not isinstance(fassst, dict):
        raise ModelError("{}: {} (the model metadata) must be an object, got {!r}".format(
            source, METADATA_KEY, fassst))
    try:
        metadata = ModelMetadata(fassst, source=source + " (fassst metadata)")
    except MetadataError as exc:
        raise ModelError(str(exc)) from None

    m = metadata
    want_frame = [3, m.input_size, m.input_size]
    if frame.max[1:] != want_frame or frame.min[1:] != want_frame:
        raise ModelError("{}: the frame engine's profile takes inputs of {} but the metadata says "
                         "(B, 3, {}, {})".format(source, frame.max, m.input_size, m.input_size))
    want_tail = [m.mask_channels, m.roi_size, m.roi_size]
    if tail.max[1:] != want_tail or tail.min[1:] != want_tail:
        raise ModelError("{}: the tail engine's profile takes inputs of {} but the metadata says "
                         "(K, {}, {}, {})".format(source, tail.max, m.mask_channels, m.roi_size, m.roi_size))
    if m.tail_sha256 and tail.onnx_sha256 != m.tail_sha256:
        raise ModelError("{}: the tail engine was built from an ONNX file with sha256 {}, but the "
                         "metadata names the tail graph {}; the engines come from different exports"
                         .format(source, tail.onnx_sha256, m.tail_sha256))
    return PlanInfo(
        path=source, tensorrt_version=version, compute_capability=(cc[0], cc[1]),
        device_name=str(doc.get("device_name", "")), precision=precision,
        precision_source=precision_source,
        workspace_mb=int(doc.get("workspace_mb", DEFAULT_WORKSPACE_MB)),
        max_batch=frame.max[0], cache_key=_require(doc, "cache_key", str, "", source),
        model_sha256=_require(doc, "model_sha256", str, "", source), frame=frame, tail=tail,
        metadata=metadata)


def read_sidecar(plan: str, verify_engines: bool = True) -> PlanInfo:
    """Reads and checks ``NAME.plan.json`` beside ``plan``: it exists and is
    valid, it names these engine files, and (``verify_engines``) both engine
    files exist with the sha256 it records (a truncated, replaced or
    separately rebuilt engine is refused before TensorRT sees it)."""
    paths = plan_paths(plan)
    if not os.path.isfile(paths.sidecar):
        raise FileNotFoundError(
            "{}: the sidecar of TensorRT engine {} does not exist; engines are made together with it by "
            "`fassst-rt build NAME.onnx -o {}`".format(paths.sidecar, paths.frame, paths.frame))
    try:
        with open(paths.sidecar, "r", encoding="utf-8") as f:
            doc = json.load(f)
    except ValueError as exc:
        raise ModelError("{}: not valid JSON ({})".format(paths.sidecar, exc)) from None
    info = parse_sidecar(doc, paths.sidecar)
    for entry, path, what in ((info.frame, paths.frame, "frame"), (info.tail, paths.tail, "tail")):
        if entry.file != os.path.basename(path):
            raise ModelError("{}: describes the {} engine {!r}, but it sits beside {!r}; a sidecar "
                             "belongs to the engines it was built with (rename all three files "
                             "together, or rebuild)".format(paths.sidecar, what, entry.file,
                                                            os.path.basename(path)))
        if not verify_engines:
            continue
        if not os.path.isfile(path):
            raise FileNotFoundError("{}: the model's {} engine does not exist (named by {})".format(
                path, what, paths.sidecar))
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise ModelError(
                "{}: its sha256 is {} but {} records {}: the engine is truncated, corrupt or from "
                "another build; rebuild with: {}".format(path, actual, paths.sidecar, entry.sha256,
                                                        rebuild_command(info, paths.frame)))
    return info


def sidecar_document(*, metadata: ModelMetadata, tensorrt_version: str, compute_capability: Tuple[int, int],
                     device_name: str, precision: str, precision_source: str, workspace_mb: int,
                     profiles: Dict[str, Dict[str, List[int]]], frame_file: str, frame_sha256: str,
                     tail_file: str, tail_sha256: str, frame_onnx: str, frame_onnx_sha256: str,
                     tail_onnx: str, tail_onnx_sha256: str, extra: Optional[Dict[str, Any]] = None
                     ) -> Dict[str, Any]:
    """The sidecar as ``fassst-rt build`` writes it (validated by
    :func:`parse_sidecar` before it is written)."""
    model = model_hash(frame_onnx_sha256, tail_onnx_sha256)
    doc = {
        "format": SIDECAR_FORMAT, "version": SIDECAR_VERSION,
        "tensorrt_version": tensorrt_version,
        "compute_capability": [int(compute_capability[0]), int(compute_capability[1])],
        "device_name": device_name, "precision": precision, "precision_source": precision_source,
        "workspace_mb": int(workspace_mb),
        "model_sha256": model,
        "cache_key": cache_key(model, tensorrt_version, compute_capability, precision, profiles),
        "engines": {
            "frame": {"file": frame_file, "sha256": frame_sha256, "onnx": frame_onnx,
                      "onnx_sha256": frame_onnx_sha256, "input": FRAME_INPUT, "profile": profiles["frame"]},
            "tail": {"file": tail_file, "sha256": tail_sha256, "onnx": tail_onnx,
                     "onnx_sha256": tail_onnx_sha256, "input": TAIL_INPUT, "profile": profiles["tail"]},
        },
        METADATA_KEY: metadata.to_dict(),
    }  # type: Dict[str, Any]
    if extra:
        doc.update(extra)
    parse_sidecar(doc, "new sidecar")
    return doc


# ------------------------------------------------------- is it usable here?

def compatibility_problems(info: PlanInfo, tensorrt_version: str,
                           compute_capability: Tuple[int, int]) -> List[str]:
    """Why the engines cannot run with this TensorRT on this GPU (empty: they
    can). A serialised engine loads only in the TensorRT version that built it
    and holds kernels for one GPU architecture (fassst-rt build does not ask
    for TensorRT's version- or hardware-compatible modes)."""
    problems = []
    built, running = parse_version(info.tensorrt_version)[:4], parse_version(tensorrt_version)[:4]
    if built != running:
        problems.append("built with TensorRT {}, this machine has TensorRT {}".format(
            info.tensorrt_version, tensorrt_version))
    if tuple(info.compute_capability) != tuple(compute_capability):
        problems.append("built for GPU compute capability {}.{}{}, this GPU has {}.{}".format(
            info.compute_capability[0], info.compute_capability[1],
            " ({})".format(info.device_name) if info.device_name else "",
            compute_capability[0], compute_capability[1]))
    return problems


def onnx_path_of(info: PlanInfo) -> str:
    """The frame ONNX file the engines were built from, as a path usable from
    the current directory (the sidecar stores it relative to its folder)."""
    if os.path.isabs(info.frame.onnx):
        return info.frame.onnx
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(info.path)), info.frame.onnx))


def rebuild_command(info: PlanInfo, plan: str) -> str:
    """The exact command that rebuilds these engines on the current machine
    with the options they were built with (the precision only when it was
    chosen explicitly; otherwise the new device's default applies)."""
    args = ["fassst-rt", "build", _display_path(onnx_path_of(info)), "-o", _display_path(plan)]
    if info.precision_source == "option":
        args.append("--" + info.precision)
    if info.max_batch != DEFAULT_MAX_BATCH:
        args += ["--max-batch", str(info.max_batch)]
    if info.workspace_mb != DEFAULT_WORKSPACE_MB:
        args += ["--workspace", str(info.workspace_mb)]
    return " ".join(shlex.quote(a) for a in args)


def _display_path(path: str) -> str:
    """Relative to the current directory when below it, else absolute."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive (Windows)
        return absolute
    return relative if not relative.startswith("..") else absolute


def relative_to(path: str, folder: str) -> str:
    """``path`` relative to ``folder`` (where the sidecar is), absolute when
    that is impossible."""
    try:
        return os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    except ValueError:
        return os.path.abspath(path)


def describe(info: PlanInfo) -> Sequence[str]:
    """Lines for `fassst-rt info NAME.plan` and the build command's summary."""
    return [
        "TensorRT    {} for compute capability {}.{}{}, {}".format(
            info.tensorrt_version, info.compute_capability[0], info.compute_capability[1],
            " ({})".format(info.device_name) if info.device_name else "", info.precision),
        "profiles    frame {} .. {}, tail {} .. {} (opt {})".format(
            info.frame.min, info.frame.max, info.tail.min, info.tail.max, info.tail.opt),
        "cache key   {}".format(info.cache_key),
    ]
