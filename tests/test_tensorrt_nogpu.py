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


# ------------------------------------------------ precisions per TensorRT version

from fassst_rt.tensorrt import compat as trt_compat  # noqa: E402
from fassst_rt.tensorrt.chunks import ALIGNMENT, plan_chunks  # noqa: E402


@pytest.mark.parametrize("version", ["8.5.2.2", "8.6.1.6", "10.13.0.35"])
def test_build_settings_before_tensorrt_11_use_builder_flags(version):
    fp32 = trt_compat.build_settings(version, "fp32", fast_fp16=True)
    assert fp32.clear_flags == ("TF32",) and fp32.set_flags == () and not fp32.fp16_graph
    fp16 = trt_compat.build_settings(version, "fp16", fast_fp16=True)
    assert fp16.set_flags == ("FP16",) and not fp16.fp16_graph and not fp16.strongly_typed
    assert trt_compat.build_settings(version, "int8", fast_fp16=True).set_flags == ("INT8", "FP16")
    # a GPU slow at FP16 (GTX 10xx) keeps the float layers of an INT8 engine in FP32
    assert trt_compat.build_settings(version, "int8", fast_fp16=False).set_flags == ("INT8",)


def test_build_settings_on_tensorrt_11_need_no_precision_flag():
    # 11.x has no FP16 / INT8 builder flags (fetched headers: BuilderFlag of release/11.1)
    for precision in ("fp32", "fp16", "int8"):
        settings = trt_compat.build_settings("11.1.0.106", precision, fast_fp16=True)
        assert settings.strongly_typed and not {"FP16", "INT8"} & set(settings.set_flags)
    assert trt_compat.build_settings("11.1.0.106", "fp16", True).fp16_graph
    assert not trt_compat.build_settings("11.1.0.106", "int8", True).fp16_graph  # opset 17 Q/DQ: float32 only
    assert trt_compat.build_settings("11.1.0.106", "fp32", True).clear_flags == ("TF32",)
    with pytest.raises(ValueError, match="precision must be 'fp32', 'fp16' or 'int8', got 'bf16'"):
        trt_compat.build_settings("11.1.0.106", "bf16", True)


@pytest.mark.parametrize("cc,expected", [((5, 3), False), ((6, 0), False), ((6, 1), True), ((6, 2), False),
                                         ((7, 2), True), ((8, 7), True)])
def test_int8_needs_dp4a_or_tensor_cores(cc, expected):
    assert trt_compat.has_int8(cc) is expected


# --------------------------------------------------- the one process-wide logger

def test_error_log_files_messages_per_thread_after_a_mark():
    import threading

    log = trt_compat.ErrorLog()
    log.add("before")
    mark = log.mark()
    assert log.since(mark) == [] and log.summary(mark) == "TensorRT logged no error message"
    seen = {}

    def other():
        other_mark = log.mark()
        log.add("from the other thread")
        seen["other"] = log.since(other_mark)

    worker = threading.Thread(target=other)
    worker.start()
    worker.join()
    log.add("mine")
    assert log.since(mark) == ["mine"]  # not the other thread's
    assert seen["other"] == ["from the other thread"]
    for i in range(trt_compat.ErrorLog.LIMIT + 5):
        log.add(str(i))
    assert log.since(mark)[-1] == str(trt_compat.ErrorLog.LIMIT + 4)
    assert len(log.since(mark)) == trt_compat.ErrorLog.LIMIT


def _source(node):
    """A name or a call of a dotted name as text (ast.unparse is 3.9+)."""
    import ast
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _source(node.value) + "." + node.attr
    if isinstance(node, ast.Call):
        return _source(node.func) + "()"
    return type(node).__name__


def test_tensorrt_objects_are_made_with_the_process_logger_only():
    # Every Builder, Runtime and OnnxParser gets compat.process_logger(): a
    # second logger would be ignored by TensorRT and could be freed while
    # TensorRT still calls it.
    import ast
    made = []
    for module in ("backend.py", "build.py"):
        path = os.path.join(ROOT, "fassst_rt", "tensorrt", module)
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("Builder", "Runtime", "OnnxParser")):
                made.append((module, node.func.attr, _source(node.args[-1])))
    assert ("backend.py", "Runtime", "trt_compat.process_logger()") in made
    assert {m[1] for m in made if m[0] == "build.py"} == {"Builder", "OnnxParser"}
    for module, what, logger in made:
        assert logger in ("trt_compat.process_logger()", "logger"), (module, what, logger)
    with open(os.path.join(ROOT, "fassst_rt", "tensorrt", "build.py")) as f:
        assert "logger = trt_compat.process_logger()" in f.read()


# ----------------------------------------------------------- chunk alignment

def _paper_rows(size, classes=80, grid=6, masks=128, s1=28):
    """Row sizes in bytes of the paper's model's tensors (float32)."""
    n = grid * grid
    frame = {"images": 3 * size * size * 4, "boxes": n * 4 * 4, "scores": n * classes * 4}
    for level, stride in (("p1", 8), ("p2", 16), ("p3", 32)):
        frame[level] = masks * (size // stride) ** 2 * 4
    tail = {"rois": masks * s1 * s1 * 4, "masks": (2 * s1) ** 2 * 4}
    return frame, tail


@pytest.mark.parametrize("size", [416, 768])
@pytest.mark.parametrize("max_batch", range(1, 9))
def test_every_chunk_address_is_aligned(size, max_batch):
    frame, tail = _paper_rows(size)
    for rows, limit, tensors in ((20, max_batch, frame), (3 * 36 + 5, 36, tail)):
        chunks = plan_chunks(rows, limit, tensors)
        covered = [r for c in chunks for r in range(c.start, c.start + c.rows)]
        assert covered == list(range(rows)) and all(c.rows <= limit for c in chunks)
        for chunk in chunks:
            for name, nbytes in tensors.items():
                offset = 0 if name in chunk.staged else chunk.start * nbytes  # staged: a scratch buffer
                assert offset % ALIGNMENT == 0, (name, chunk)
            # nothing staged that needs no staging
            assert all((chunk.start * tensors[name]) % ALIGNMENT for name in chunk.staged)
    # the case: boxes rows of 576 bytes misalign chunks 1-3 and 5-7 of max-batch 1
    assert [c.staged for c in plan_chunks(4, 1, {"boxes": 576})] == [(), ("boxes",), ("boxes",), ("boxes",)]


def test_plan_chunks_rejects_a_zero_limit():
    with pytest.raises(ValueError, match="max_rows must be >= 1, got 0"):
        plan_chunks(3, 0, {"x": 4})


# ------------------------------------------------------------- timing cache

def test_an_unreadable_timing_cache_gives_a_fresh_one(tmp_path):
    from fassst_rt.tensorrt.build import read_timing_cache, usable_timing_cache

    lines = []

    class Cache:
        def __init__(self, data):
            self.data = data

    def create(data):
        # what TensorRT's create_timing_cache does with bytes it cannot read:
        # 8.x / 10.x raise TypeError or return None, depending on the version
        if data.startswith(b"bad-type"):
            raise TypeError("create_timing_cache(): incompatible function arguments")
        if data.startswith(b"bad-none"):
            return None
        return Cache(data)

    assert usable_timing_cache(create, b"good", lines.append).data == b"good" and lines == []
    for bad in (b"bad-type", b"bad-none"):
        cache = usable_timing_cache(create, bad, lines.append)
        assert cache.data == b"" and "the timing cache is unreadable" in lines[-1]
    assert usable_timing_cache(create, b"", lines.append).data == b""
    folder = tmp_path / "cache-is-a-folder"
    folder.mkdir()
    assert read_timing_cache(str(folder), lines.append) == b"" and "cannot be read" in lines[-1]
    assert read_timing_cache(str(tmp_path / "absent"), lines.append) == b""
    (tmp_path / "t.cache").write_bytes(b"x" * 3000)
    assert read_timing_cache(str(tmp_path / "t.cache"), lines.append) == b"x" * 3000


# -------------------------------------------------------- cuda-python on JetPack

def test_jetpack_cuda_python_command_is_the_documented_one():
    # JetPack 5's pip 20.0.2 cannot resolve "cuda-python<12" (docs/tensorrt.md):
    # the hint and the docs give the same exact, pinned command.
    from fassst_rt.tensorrt.cuda_memory import CUDA_PYTHON_HINT, JETPACK5_CUDA_PYTHON

    assert JETPACK5_CUDA_PYTHON == 'python3 -m pip install "cuda-python==11.8.2"'
    assert JETPACK5_CUDA_PYTHON in CUDA_PYTHON_HINT
    with open(os.path.join(ROOT, "docs", "tensorrt.md")) as f:
        docs = f.read()
    assert "`{}`".format(JETPACK5_CUDA_PYTHON) in docs
    assert 'pip install "cuda-python<12"` fails' in docs


# ------------------------------------------------------ FP16 graphs, INT8 models

def test_fp16_graph_keeps_float32_io_and_matches_float(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from fassst_rt.tensorrt.fp16_graph import convert_file

    for source in (TINY, model_files.tail_onnx_path(TINY)):
        dest = str(tmp_path / os.path.basename(source))
        convert_file(source, dest)
        model = onnx.load(dest)
        float32 = onnx.TensorProto.FLOAT
        assert all(v.type.tensor_type.elem_type == float32 for v in list(model.graph.input) + list(model.graph.output))
        assert not [i.name for i in model.graph.initializer if i.data_type == float32]
        assert {v.type.tensor_type.elem_type for v in model.graph.value_info} & {onnx.TensorProto.FLOAT16}
        a = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
        b = ort.InferenceSession(dest, providers=["CPUExecutionProvider"])
        name = a.get_inputs()[0].name
        shape = [d if isinstance(d, int) else 2 for d in a.get_inputs()[0].shape]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        for want, got in zip(a.run(None, {name: x}), b.run(None, {name: x})):
            assert got.dtype == np.float32
            scale = max(float(np.abs(want).max()), 1e-3)
            assert float(np.abs(want - got).max()) <= 2e-2 * scale  # float16 rounding, no more


@pytest.fixture(scope="module")
def quantized_tiny(tmp_path_factory):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime.quantization")
    pytest.importorskip("sympy", reason="fassst-rt quantize needs the quantize extra (sympy)")
    cv2 = pytest.importorskip("cv2")
    from fassst_rt.quantize import quantize_model

    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / "f{}.png".format(i)), rng.integers(0, 255, (128, 160, 3), dtype=np.uint8))
    out = {}
    for target in ("cpu", "tensorrt"):
        path = str(tmp_path_factory.mktemp(target) / "tiny_int8.onnx")
        quantize_model(TINY, path, str(folder), target, score_threshold=0.0, progress=False, report=lambda s: None)
        out[target] = path
    return out


def test_int8_build_needs_the_tensorrt_form(quantized_tiny):
    from fassst_rt.tensorrt.build import check_precision

    float_metadata = read_model(TINY)[0]
    with pytest.raises(ValueError, match=r"--int8: .*tiny\.onnx is a float model; make the TensorRT form first: "
                                         r"fassst-rt quantize .* --target tensorrt"):
        check_precision(float_metadata, "int8", (8, 7), TINY)
    cpu_form = read_model(quantized_tiny["cpu"])[0]
    with pytest.raises(ValueError, match="is quantized for --target cpu"):
        check_precision(cpu_form, "int8", (8, 7), quantized_tiny["cpu"])
    trt_form = read_model(quantized_tiny["tensorrt"])[0]
    check_precision(trt_form, "int8", (8, 7), quantized_tiny["tensorrt"])  # fine
    with pytest.raises(ValueError, match=r"compute capability 6\.2\) has no INT8"):
        check_precision(trt_form, "int8", (6, 2), quantized_tiny["tensorrt"])
    with pytest.raises(ValueError, match="--fp16: .* is an INT8 model .*build it with --int8"):
        check_precision(trt_form, "fp16", (8, 7), quantized_tiny["tensorrt"])
    check_precision(float_metadata, "fp16", (8, 7), TINY)


def test_fp16_conversion_refuses_a_qdq_graph(quantized_tiny):
    onnx = pytest.importorskip("onnx")
    from fassst_rt.tensorrt.fp16_graph import Fp16ConversionError, convert

    with pytest.raises(Fp16ConversionError, match="Q/DQ operators"):
        convert(onnx.load(quantized_tiny["tensorrt"]))


def test_build_int8_cli_without_tensorrt_is_one_line(quantized_tiny, tmp_path):
    result = cli("build", quantized_tiny["tensorrt"], "--int8", "-o", str(tmp_path / "m.plan"), cwd=tmp_path)
    assert result.returncode in (1, 2) and len(result.stderr.strip().splitlines()) == 1, result.stderr
    # what cannot work whatever the machine is said first, before TensorRT is looked for
    result = cli("build", TINY, "--int8", "-o", str(tmp_path / "m.plan"), cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        "fassst-rt build: error: --int8: {0} is a float model; make the TensorRT form first: fassst-rt quantize "
        "{0} -o NAME_int8.onnx --target tensorrt --calib TRAINING_FRAMES".format(TINY)]
    result = cli("build", quantized_tiny["cpu"], "--fp16", "-o", str(tmp_path / "m.plan"), cwd=tmp_path)
    assert result.returncode == 1 and "is an INT8 model (quantized for --target cpu)" in result.stderr
