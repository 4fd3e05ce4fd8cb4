"""`fassst-rt export-triton`: the model repository entry (its files, its
config.pbtxt, its model.py's logic on real frames, without Triton), and a
smoke test that serves the exported entry with PyTriton on 127.0.0.1 and
compares its answers on real frames with the runtime's own results. The smoke
test skips where PyTriton is not installed (nvidia-pytriton needs numpy < 2:
CI runs it in a venv of its own)."""

import hashlib
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the shipped model runs on onnxruntime (fassst_rt[cpu])")
cv2 = pytest.importorskip("cv2", reason="OpenCV reads the real frames")

from fassst_rt import Segmenter  # noqa: E402
from reference import stored_results as stored  # noqa: E402
from support import subprocess_env  # noqa: E402

MODEL = str(stored.MODEL)
FRAMES = ("hela_t03", "hela_t11")  # same size: one request of two frames

needs_frames = pytest.mark.skipif(not all((stored.data_dir() / (n + ".png")).is_file() for n in FRAMES),
                                  reason="real data not fetched (fassst-rt data fetch)")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def parse_pbtxt(text):
    """Protobuf text format (the subset config.pbtxt uses) -> nested dicts;
    a field given several times, or as a [ ] list, becomes a list."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,]+', re.sub(r"#.*", "", text))
    position = 0

    def value():
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "{":
            return message("}")
        if token == "[":
            items = []
            while tokens[position] != "]":
                items.append(value())
                if tokens[position] == ",":
                    position += 1
            position += 1
            return items
        if token.startswith('"'):
            return json.loads(token)
        try:
            return int(token)
        except ValueError:
            return token  # an enum name

    def message(end):
        nonlocal position
        fields = {}
        while position < len(tokens) and tokens[position] != end:
            name = tokens[position]
            position += 1
            if tokens[position] == ":":
                position += 1
            item = value()
            if name in fields:
                previous = fields[name] if isinstance(fields[name], list) else [fields[name]]
                fields[name] = previous + (item if isinstance(item, list) else [item])
            else:
                fields[name] = item
        position += 1
        return fields

    return message(None)


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    out = tmp_path_factory.mktemp("triton") / "models"
    r = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "export-triton", MODEL, str(out), "--name", "fassst",
                        "--max-batch-size", "4", "--score-threshold", "0.3"],
                       capture_output=True, text=True, cwd=str(out.parent), env=subprocess_env())
    assert r.returncode == 0, r.stderr
    return out


def test_export_writes_the_repository_entry(repository):
    entry = repository / "fassst"
    assert sorted(os.listdir(str(repository))) == ["fassst"]  # no staging folder left behind
    assert sorted(os.listdir(str(entry))) == ["1", "config.pbtxt"]
    version = entry / "1"
    assert sorted(os.listdir(str(version))) == ["fassst_default.onnx", "fassst_default.tail.onnx",
                                                "fassst_serving.json", "model.py"]
    for name in ("fassst_default.onnx", "fassst_default.tail.onnx"):
        assert sha256(str(version / name)) == sha256(os.path.join(os.path.dirname(MODEL), name))
    assert json.loads((version / "fassst_serving.json").read_text()) == {"model": "fassst_default.onnx",
                                                                         "score_threshold": 0.3}
    config = parse_pbtxt((entry / "config.pbtxt").read_text())
    assert config["name"] == "fassst" and config["backend"] == "python" and config["max_batch_size"] == 4
    assert config["input"] == [{"name": "IMAGE", "data_type": "TYPE_UINT8", "dims": [-1, -1, -1]}]
    assert config["output"] == [{"name": "INSTANCES_JSON", "data_type": "TYPE_STRING", "dims": [1]}]
    assert config["dynamic_batching"] == {"max_queue_delay_microseconds": 2000}
    assert config["instance_group"] == [{"count": 1, "kind": "KIND_CPU"}]
    try:  # Triton's own schema, where tritonclient is installed (the PyTriton venv)
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        return
    parsed = text_format.Parse((entry / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert parsed.name == "fassst" and parsed.dynamic_batching.max_queue_delay_microseconds == 2000


def test_export_refuses_bad_input(tmp_path):
    from fassst_rt.triton.export import export_repository
    with pytest.raises(FileNotFoundError, match="missing.tail.onnx"):
        (tmp_path / "missing.onnx").write_bytes(b"")
        export_repository(str(tmp_path / "missing.onnx"), str(tmp_path / "repo"))
    with pytest.raises(ValueError, match="MODEL must be NAME.onnx or NAME.plan, got 'model.pt'"):
        export_repository("model.pt", str(tmp_path / "repo"))
    with pytest.raises(ValueError, match="max_batch_size must be an int >= 1, got 0"):
        export_repository(MODEL, str(tmp_path / "repo"), max_batch_size=0)
    assert not (tmp_path / "repo").exists()


def load_exported_model(entry):
    """The exported model.py, imported and initialised as Triton's Python
    backend does it (the arguments Triton passes)."""
    spec = importlib.util.spec_from_file_location("exported_model", str(entry / "1" / "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TritonPythonModel()
    model.initialize({"model_repository": str(entry), "model_version": "1", "model_instance_kind": "CPU",
                      "model_instance_device_id": "0",
                      "model_config": json.dumps({"name": entry.name, "max_batch_size": 4})})
    return model


def real_frames():
    return np.stack([cv2.imread(str(stored.data_dir() / (n + ".png")), cv2.IMREAD_GRAYSCALE) for n in FRAMES])


def runtime_documents(frames, **options):
    with Segmenter(MODEL, **options) as seg:
        return [_without_timings(seg.run(f).to_json()) for f in frames]


def _without_timings(text):
    doc = json.loads(text)
    doc.pop("timings_ms")
    return doc


@needs_frames
def test_exported_model_answers_as_the_runtime(repository):
    model = load_exported_model(repository / "fassst")
    frames = real_frames()
    out = model.served.infer(frames[:, :, :, None])
    assert out.shape == (len(FRAMES), 1)
    got = [_without_timings(item[0].decode("utf-8")) for item in out]
    want = runtime_documents(frames, score_threshold=0.3)
    assert got == want and all(len(d["instances"]) > 10 for d in got)
    with pytest.raises(ValueError, match=r"IMAGE must be uint8 \(batch, height, width, 1 or 3 channels\)"):
        model.served.infer(frames.astype(np.float32))
    model.finalize()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_frames
def test_pytriton_serves_the_exported_model(repository):
    pytest.importorskip("pytriton", reason="PyTriton is not installed (nvidia-pytriton 0.7.0 needs numpy < 2; "
                                           "CI runs this in a venv of its own)")
    from pytriton.client import ModelClient
    from pytriton.decorators import batch
    from pytriton.model_config import ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    from fassst_rt.triton.served import INPUT, OUTPUT
    model = load_exported_model(repository / "fassst")

    @batch
    def infer(**inputs):
        return {OUTPUT: model.served.infer(inputs[INPUT])}

    http, grpc, metrics = _free_port(), _free_port(), _free_port()
    config = TritonConfig(http_address="127.0.0.1", http_port=http, grpc_address="127.0.0.1", grpc_port=grpc,
                          metrics_address="127.0.0.1", metrics_port=metrics)
    frames = real_frames()[:, :, :, None]
    with Triton(config=config) as triton:
        triton.bind(model_name="fassst", infer_func=infer,
                    inputs=[Tensor(name=INPUT, dtype=np.uint8, shape=(-1, -1, -1))],
                    outputs=[Tensor(name=OUTPUT, dtype=bytes, shape=(1,))],
                    config=ModelConfig(max_batch_size=4))
        triton.run()
        with ModelClient("http://127.0.0.1:{}".format(http), "fassst", init_timeout_s=120) as client:
            answer = client.infer_batch(**{INPUT: frames})
    got = [_without_timings(item[0].decode("utf-8")) for item in answer[OUTPUT]]
    assert got == runtime_documents(frames[:, :, :, 0], score_threshold=0.3)
    model.finalize()
