"""The TensorRT backend and `fassst-rt build` where there is no TensorRT or
no GPU (this machine, CI): the sidecar checks, the pure logic of engine
compatibility, cache keys and precision defaults, and the errors a user gets.
Everything runs the real code on real files; nothing is mocked."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fassst_rt import model_files
from fassst_rt.backends.base import ModelError
from fassst_rt.metadata import ModelMetadata
from fassst_rt.tensorrt import cuda_memory
from fassst_rt.tensorrt import plan as trt_plan
from fassst_rt.tensorrt.backend import parse_device, runtime_problems
from fassst_rt.tensorrt.build import read_model, read_onnx_metadata_props
from fassst_rt.tensorrt.compat import parse_version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "tests", "data", "tiny", "tiny.onnx")
SHIPPED = os.path.join(ROOT, "engines", "fassst_default.onnx")

_version, _missing = runtime_problems()
needs_no_trt_gpu = pytest.mark.skipif(
    not _missing, reason="TensorRT, cuda-python and a GPU are all present: the no-GPU errors cannot happen here")


def run_python(code, cwd):
    # From another folder than the source tree, which has no compiled _C.
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(cwd))


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fassst_rt.cli"] + list(args), capture_output=True,
                          text=True, cwd=str(cwd))


@pytest.fixture(scope="module")
def tiny_model():
    metadata, tail_onnx, frame_sha, tail_sha = read_model(TINY)
    return metadata, tail_onnx, frame_sha, tail_sha


def write_plan(folder, tiny_model, name="tiny", trt_version="8.6.1.6", cc=(6, 1), precision="fp32",
               source="default", frame_bytes=b"frame engine bytes", tail_bytes=b"tail engine bytes", **changes):
    """NAME.plan, NAME.tail.plan and NAME.plan.json as `fassst-rt build` lays
    them out. The engine files are stand-ins (no TensorRT here to make real
    ones); their sha256 is recorded, so every check before TensorRT is real."""
    metadata, tail_onnx, frame_sha, tail_sha = tiny_model
    paths = model_files.plan_paths(os.path.join(str(folder), name + ".plan"))
    with open(paths.frame, "wb") as f:
        f.write(frame_bytes)
    with open(paths.tail, "wb") as f:
        f.write(tail_bytes)
    doc = trt_plan.sidecar_document(
        metadata=metadata, tensorrt_version=trt_version, compute_capability=cc, device_name="NVIDIA GeForce GTX 1080 Ti",
        precision=precision, precision_source=source, workspace_mb=trt_plan.DEFAULT_WORKSPACE_MB,
        profiles=trt_plan.profiles_for(metadata), frame_file=os.path.basename(paths.frame),
        frame_sha256=trt_plan.sha256_file(paths.frame), tail_file=os.path.basename(paths.tail),
        tail_sha256=trt_plan.sha256_file(paths.tail), frame_onnx=trt_plan.relative_to(TINY, str(folder)),
        frame_onnx_sha256=frame_sha, tail_onnx=trt_plan.relative_to(tail_onnx, str(folder)),
        tail_onnx_sha256=tail_sha)
    doc.update(changes)
    with open(paths.sidecar, "w") as f:
        json.dump(doc, f)
    return paths, doc


def rewrite(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)


# --------------------------------------------------------------- pure logic

@pytest.mark.parametrize("cc,expected", [
    ((6, 1), "fp32"),   # GTX 1080 Ti: FP16 at 1/64 rate
    ((5, 2), "fp32"),   # Maxwell: no FP16 arithmetic
    ((5, 3), "fp16"),   # Jetson Nano
    ((6, 0), "fp16"),   # P100
    ((6, 2), "fp16"),   # Jetson TX2
    ((7, 2), "fp16"),   # Xavier NX
    ((7, 5), "fp16"),   # Turing
    ((8, 7), "fp16"),   # Orin
    ((9, 0), "fp16"),
])
def test_precision_defaults_per_compute_capability(cc, expected):
    # the same on every TensorRT: 11.x gets FP16 from an FP16-typed graph
    for version in ("8.5.2.2", "8.6.1.6", "10.13.0.35", "11.1.0.106"):
        assert trt_plan.default_precision(cc, version) == expected
        assert trt_plan.default_precision(cc, version, quantized=True) == "int8"


def test_parse_version():
    assert parse_version("8.5.2.2") == (8, 5, 2, 2)
    assert parse_version("10.13.0.35.post1") == (10, 13, 0, 35)
    assert parse_version("10.0.1b3") == (10, 0, 1)
    with pytest.raises(ValueError, match="not a TensorRT version: 'abc'"):
        parse_version("abc")


def test_cache_key_is_deterministic_and_changes_with_each_part(tiny_model):
    metadata = tiny_model[0]
    profiles = trt_plan.profiles_for(metadata)
    args = ("a" * 64, "8.5.2.2", (7, 2), "fp16", profiles)
    key = trt_plan.cache_key(*args)
    assert key == trt_plan.cache_key(*args)
    assert key.startswith("trt8.5.2.2-sm72-fp16-")
    # Another interpreter with another hash seed computes the same key (no
    # dependence on Python's randomised str hashing or dict order).
    code = ("from fassst_rt.tensorrt import plan as trt_plan; import json, sys; p = json.loads(sys.argv[1]); "
            "print(trt_plan.cache_key('{}', '8.5.2.2', (7, 2), 'fp16', p))".format("a" * 64))
    other = subprocess.run([sys.executable, "-c", code, json.dumps(profiles)], capture_output=True, text=True,
                           cwd=os.path.dirname(ROOT), env=dict(os.environ, PYTHONHASHSEED="12345"))
    assert other.stdout.strip() == key, other.stderr
    changed = [
        ("b" * 64, "8.5.2.2", (7, 2), "fp16", profiles),
        ("a" * 64, "8.6.1.6", (7, 2), "fp16", profiles),
        ("a" * 64, "8.5.2.2", (8, 7), "fp16", profiles),
        ("a" * 64, "8.5.2.2", (7, 2), "fp32", profiles),
        ("a" * 64, "8.5.2.2", (7, 2), "int8", profiles),
        ("a" * 64, "8.5.2.2", (7, 2), "fp16", trt_plan.profiles_for(metadata, max_batch=4)),
    ]
    keys = {trt_plan.cache_key(*c) for c in changed}
    assert len(keys) == len(changed) and key not in keys
    with pytest.raises(ValueError, match="precision must be one of"):
        trt_plan.cache_key("a" * 64, "8.5.2.2", (7, 2), "bf16", profiles)


def test_model_hash_covers_both_graphs():
    assert trt_plan.model_hash("a", "b") != trt_plan.model_hash("a", "c")
    assert trt_plan.model_hash("a", "b") != trt_plan.model_hash("b", "a")


def test_profiles_cover_one_to_n_instances(tiny_model):
    m = tiny_model[0]
    p = trt_plan.profiles_for(m, max_batch=3)
    # tuned (opt) for full batches: tiled frames run --max-batch tiles a call
    assert p["frame"] == {"min": [1, 3, m.input_size, m.input_size], "opt": [3, 3, m.input_size, m.input_size],
                          "max": [3, 3, m.input_size, m.input_size]}
    assert p["tail"]["min"][0] == 1 and p["tail"]["max"][0] == m.num_cells
    assert p["tail"]["max"][1:] == [m.mask_channels, m.roi_size, m.roi_size]
    with pytest.raises(ValueError, match="max_batch must be an integer >= 1, got 0"):
        trt_plan.profiles_for(m, max_batch=0)


def test_compatibility_same_machine_is_fine(tmp_path, tiny_model):
    paths, _ = write_plan(tmp_path, tiny_model, trt_version="8.5.2.2", cc=(7, 2))
    info = trt_plan.read_sidecar(paths.frame)
    assert trt_plan.compatibility_problems(info, "8.5.2.2", (7, 2)) == []


def test_compatibility_other_tensorrt_or_gpu_says_what_differs(tmp_path, tiny_model):
    paths, _ = write_plan(tmp_path, tiny_model, trt_version="8.5.2.2", cc=(7, 2))
    info = trt_plan.read_sidecar(paths.frame)
    assert trt_plan.compatibility_problems(info, "8.6.1.6", (7, 2)) == [
        "built with TensorRT 8.5.2.2, this machine has TensorRT 8.6.1.6"]
    assert trt_plan.compatibility_problems(info, "8.5.2.2", (8, 7)) == [
        "built for GPU compute capability 7.2 (NVIDIA GeForce GTX 1080 Ti), this GPU has 8.7"]
    assert len(trt_plan.compatibility_problems(info, "10.13.0.35", (6, 1))) == 2
    # a different build number is a different TensorRT: engines do not load across it
    assert trt_plan.compatibility_problems(info, "8.5.2.1", (7, 2)) != []


def test_rebuild_command_is_exact(tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)  # paths are printed relative to the current folder
    paths, _ = write_plan(tmp_path, tiny_model, source="default")
    info = trt_plan.read_sidecar(paths.frame)
    assert trt_plan.rebuild_command(info, paths.frame) == "fassst-rt build {} -o tiny.plan".format(TINY)
    (tmp_path / "sub").mkdir()
    paths, doc = write_plan(tmp_path / "sub", tiny_model, precision="fp16", source="option")
    doc["engines"]["frame"]["profile"]["max"][0] = 4
    doc["engines"]["frame"]["profile"]["opt"][0] = 4
    doc["workspace_mb"] = 512
    rewrite(paths.sidecar, doc)
    info = trt_plan.read_sidecar(paths.frame)
    assert trt_plan.rebuild_command(info, paths.frame) == (
        "fassst-rt build {} -o sub/tiny.plan --fp16 --max-batch 4 --workspace 512".format(TINY))


# -------------------------------------------------------------- the sidecar

def test_sidecar_round_trip(tmp_path, tiny_model):
    paths, doc = write_plan(tmp_path, tiny_model, trt_version="10.13.0.35", cc=(8, 7), precision="fp16")
    info = trt_plan.read_sidecar(paths.frame)
    assert info.tensorrt_version == "10.13.0.35" and info.compute_capability == (8, 7)
    assert info.precision == "fp16" and info.max_batch == trt_plan.DEFAULT_MAX_BATCH
    assert info.metadata.to_dict() == tiny_model[0].to_dict()
    assert info.cache_key == doc["cache_key"]
    assert trt_plan.onnx_path_of(info) == TINY


def test_missing_sidecar_names_it_and_the_build_command(tmp_path, tiny_model):
    paths, _ = write_plan(tmp_path, tiny_model)
    os.remove(paths.sidecar)
    with pytest.raises(FileNotFoundError, match=r"tiny\.plan\.json: the sidecar of TensorRT engine .* "
                                                r"does not exist; .*fassst-rt build"):
        trt_plan.read_sidecar(paths.frame)


@pytest.mark.parametrize("change,pattern", [
    (lambda d: d.update(format="other"), r"not a fassst_rt TensorRT sidecar of version 1"),
    (lambda d: d.update(compute_capability="7.2"), r"compute_capability must be \[major, minor\], got '7.2'"),
    (lambda d: d.update(precision="bf16"), r"precision must be one of \['fp32', 'fp16', 'int8'\], got 'bf16'"),
    (lambda d: d.update(tensorrt_version="latest"), r"tensorrt_version must look like '8.6.1.6', got 'latest'"),
    (lambda d: d.pop("fassst"), r"fassst \(the model metadata\) must be an object, got None"),
    (lambda d: d["fassst"].update(class_names=[]), r"class_names must be a non-empty list of at most 100000 strings"),
    (lambda d: d["engines"]["tail"].pop("sha256"), r"engines\.tail\.sha256 must be str, got None"),
    (lambda d: d["engines"]["frame"]["profile"].update(min=[1, 3, 64, 64], opt=[1, 3, 64, 64],
                                                                     max=[8, 3, 64, 64]),
     r"the frame engine's profile takes inputs of \[8, 3, 64, 64\] but the metadata says \(B, 3, "),
    (lambda d: d["engines"]["tail"]["profile"].update(opt=[99, 8, 12, 12]),
     r"engines\.tail\.profile must have min <= opt <= max"),
    (lambda d: d["engines"]["tail"].update(onnx_sha256="0" * 64),
     r"the tail engine was built from an ONNX file with sha256 0+, but the metadata names the tail graph"),
])
def test_bad_sidecars_are_clear_errors(tmp_path, tiny_model, change, pattern):
    paths, doc = write_plan(tmp_path, tiny_model)
    change(doc)
    rewrite(paths.sidecar, doc)
    with pytest.raises(ModelError, match=r"tiny\.plan\.json.*" + pattern):
        trt_plan.read_sidecar(paths.frame)


def test_sidecar_that_is_not_json(tmp_path, tiny_model):
    paths, _ = write_plan(tmp_path, tiny_model)
    with open(paths.sidecar, "w") as f:
        f.write('{"format": "fassst-tensorrt", ')
    with pytest.raises(ModelError, match=r"tiny\.plan\.json: not valid JSON"):
        trt_plan.read_sidecar(paths.frame)


def test_corrupt_or_replaced_engine_is_refused_before_tensorrt(tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths, _ = write_plan(tmp_path, tiny_model)
    with open(paths.tail, "wb") as f:
        f.write(b"tail engine by")  # truncated
    with pytest.raises(ModelError, match=r"tiny\.tail\.plan: its sha256 is [0-9a-f]{64} but .*tiny\.plan\.json "
                                         r"records [0-9a-f]{64}: the engine is truncated, corrupt or from another "
                                         r"build; rebuild with: fassst-rt build .*tiny\.onnx -o tiny\.plan"):
        trt_plan.read_sidecar(paths.frame)


def test_renamed_engine_files_do_not_match_their_sidecar(tmp_path, tiny_model):
    paths, _ = write_plan(tmp_path, tiny_model, name="first")
    for old in paths:
        os.rename(old, old.replace("first", "second"))
    with pytest.raises(ModelError, match=r"second\.plan\.json: describes the frame engine 'first\.plan', but it "
                                         r"sits beside 'second\.plan'"):
        trt_plan.read_sidecar(str(tmp_path / "second.plan"))


def test_missing_tail_engine(tmp_path, tiny_model):
    paths, _ = write_plan(tmp_path, tiny_model)
    os.remove(paths.tail)
    with pytest.raises(FileNotFoundError, match=r"tiny\.tail\.plan: the model's tail engine does not exist"):
        trt_plan.read_sidecar(paths.frame)
    from fassst_rt.tensorrt.backend import TensorRTBackend
    with pytest.raises(FileNotFoundError, match=r"tiny\.tail\.plan: the model's tail engine does not exist"):
        TensorRTBackend(paths.frame)


def test_parse_device():
    assert parse_device("auto") == 0 and parse_device("cuda") == 0
    assert parse_device("cuda:1") == 1 and parse_device(2) == 2
    with pytest.raises(ValueError, match="TensorRT engines run on an NVIDIA GPU only"):
        parse_device("cpu")
    with pytest.raises(ValueError, match=r"device must be 'auto', 'cuda', 'cuda:N' or an int .* got 'tpu'"):
        parse_device("tpu")


# ------------------------------------------------- ONNX metadata without onnx

def test_metadata_read_from_onnx_equals_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    for path in (TINY, SHIPPED):
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        assert read_onnx_metadata_props(path) == dict(session.get_modelmeta().custom_metadata_map)


def test_truncated_or_foreign_onnx_is_a_clear_error(tmp_path):
    with open(TINY, "rb") as f:
        data = f.read()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"truncated\.onnx: not a readable ONNX model"):
        read_onnx_metadata_props(str(truncated))
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(ModelError, match=r"foreign\.onnx: not (a readable|an) ONNX model"):
        read_onnx_metadata_props(str(foreign))


# --------------------------------------------------- no TensorRT, no GPU here

def test_gpu_status_never_raises():
    status = cuda_memory.gpu_status()
    assert status.devices >= 0
    assert (status.devices == 0) == bool(status.reason)


@needs_no_trt_gpu
def test_plan_without_tensorrt_or_gpu_is_a_clear_error_not_a_crash(tmp_path, tiny_model):
    paths, _ = write_plan(tmp_path, tiny_model)
    # In a subprocess: where a crash would kill the interpreter, only a
    # Python exception (exit status 1) passes.
    code = ("from fassst_rt import Segmenter\n"
            "try:\n"
            "    Segmenter({!r})\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__ + ': ' + str(exc))\n"
            "    raise SystemExit(1)\n").format(paths.frame)
    r = run_python(code, tmp_path)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    message = r.stdout.strip()
    assert message.startswith("TensorRTUnavailableError: {}: cannot run TensorRT engines on this machine: "
                              .format(paths.frame)), message
    assert "tensorrt" in message  # what is missing, named
    assert ("no CUDA GPU is usable" in message) or ("cuda-python is not installed" in message)
    assert "run the ONNX model with ONNX Runtime instead: Segmenter({!r})".format(TINY) in message


@needs_no_trt_gpu
def test_segment_cli_with_a_plan_here_is_one_line(tmp_path, tiny_model):
    cv2 = pytest.importorskip("cv2")
    paths, _ = write_plan(tmp_path, tiny_model)
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.full((40, 50, 3), 90, np.uint8))
    r = cli("segment", str(image), "--model", paths.frame, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert "fassst-rt segment: error: {}: cannot run TensorRT engines on this machine".format(paths.frame) in r.stderr


def test_segmenter_on_plan_with_device_cpu_says_use_onnx(tmp_path, tiny_model):
    from fassst_rt import Segmenter
    paths, _ = write_plan(tmp_path, tiny_model)
    with pytest.raises(ValueError, match="device='cpu': TensorRT engines run on an NVIDIA GPU only"):
        Segmenter(paths.frame, device="cpu")


@needs_no_trt_gpu
def test_build_cli_without_tensorrt_is_one_line(tmp_path):
    r = cli("build", TINY, "-o", str(tmp_path / "tiny.plan"), cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("fassst-rt build: error: building TensorRT engines needs TensorRT, cuda-python "
                               "and the NVIDIA GPU that will run them: ")
    assert "tensorrt" in lines[0]
    assert not os.path.exists(str(tmp_path / "tiny.plan"))


def test_build_cli_bad_inputs_are_one_line(tmp_path):
    r = cli("build", str(tmp_path / "missing.onnx"), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip() == "fassst-rt build: error: {}: the model's frame graph does not exist".format(
        tmp_path / "missing.onnx")
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(b"not a protobuf \xff\xff\xff")
    (tmp_path / "foreign.tail.onnx").write_bytes(b"")
    r = cli("build", str(foreign), cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0
    assert "foreign.onnx: not a readable ONNX model" in r.stderr
    r = cli("build", TINY, "--fp16", "--fp32", cwd=tmp_path)
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


def test_build_refuses_a_tail_from_another_export(tmp_path):
    import shutil
    shutil.copyfile(TINY, str(tmp_path / "m.onnx"))
    shutil.copyfile(SHIPPED.replace(".onnx", ".tail.onnx"), str(tmp_path / "m.tail.onnx"))
    with pytest.raises(ModelError, match=r"m\.tail\.onnx: does not belong to .*m\.onnx"):
        read_model(str(tmp_path / "m.onnx"))


def test_metadata_from_build_matches_the_onnx_backend(tiny_model):
    ort = pytest.importorskip("onnxruntime")  # noqa: F841 (the ONNX backend needs it)
    from fassst_rt.backends import open_backend
    backend = open_backend(TINY, device="cpu")
    try:
        assert isinstance(tiny_model[0], ModelMetadata)
        assert tiny_model[0].to_dict() == backend.metadata.to_dict()
    finally:
        backend.close()


def test_info_cli_describes_a_plan_from_its_sidecar(tmp_path, tiny_model):
    # No TensorRT or GPU needed: everything comes from NAME.plan.json.
    paths, doc = write_plan(tmp_path, tiny_model, trt_version="8.5.2.2", cc=(7, 2), precision="fp16")
    r = cli("info", paths.frame, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "(tensorrt backend)" in r.stdout
    assert "TensorRT    8.5.2.2 for compute capability 7.2" in r.stdout and "fp16" in r.stdout
    assert "grid        S = {}".format(tiny_model[0].grid_size) in r.stdout
    r = cli("info", paths.frame, "--json", cwd=tmp_path)
    assert json.loads(r.stdout) == tiny_model[0].to_dict()
    # a replaced engine is refused, as the backend would
    with open(paths.tail, "wb") as f:
        f.write(b"other bytes")
    r = cli("info", paths.frame, cwd=tmp_path)
    assert r.returncode == 1 and "sha256" in r.stderr and r.stderr.strip().count("\n") == 0
