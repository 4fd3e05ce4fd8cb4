"""benchmarks/fps.py runs on the tiny test model for a few frames, its JSON
has every field, and a device estimate is labelled ESTIMATE in the printed
table and in the JSON. Runs in a few seconds, without PyTorch (--no-build)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="fps.py times models with ONNX Runtime")
onnx = pytest.importorskip("onnx", reason="fps.py counts FLOPs with onnx")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FPS = os.path.join(REPO, "benchmarks", "fps.py")
TINY = os.path.join(HERE, "data", "tiny", "tiny.onnx")

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
try:
    import fps  # noqa: E402  (for REQUIRED_FIELDS)
finally:
    sys.path.pop(0)


def run(args, cwd):
    # From a directory outside the source tree: the tree has no compiled _C and would shadow
    # the installed package.
    proc = subprocess.run([sys.executable, FPS] + args, cwd=str(cwd), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=240)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, out
    return out


def dummy_portable(path):
    """A stand-in with the portable export's interface: input images (1, 3, 128, 128), outputs
    boxes, scores, labels, box_masks (here constants for 3 instances)."""
    from onnx import TensorProto, helper, numpy_helper

    consts = {"boxes": np.zeros((3, 4), np.float32), "scores": np.ones(3, np.float32),
              "labels": np.zeros(3, np.int64), "box_masks": np.zeros((3, 32, 32), np.float32)}
    nodes = [helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0)]
    nodes += [helper.make_node("Constant", [], [k], value=numpy_helper.from_array(v, k + "_v"))
              for k, v in consts.items()]
    nodes.append(helper.make_node("Add", ["m", "scores"], ["scores_out"]))
    outputs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, None),
               helper.make_tensor_value_info("scores_out", TensorProto.FLOAT, None),
               helper.make_tensor_value_info("labels", TensorProto.INT64, None),
               helper.make_tensor_value_info("box_masks", TensorProto.FLOAT, None)]
    graph = helper.make_graph(nodes, "portable_stub",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 128, 128])],
                              outputs)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.fixture(scope="module")
def xavier_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fps")
    portable = tmp / "stub.portable.onnx"
    dummy_portable(portable)
    out_json = tmp / "out.json"
    out = run(["--device", "xavier", "--model", TINY, "--frames", "3", "--warmup", "1", "--instances", "4",
               "--source", "synthetic", "--threads", "1", "--no-build", "--sweeps", "--sweep-k", "0,2",
               "--sweep-frames", "2", "--compare", TINY, "--compare-portable", str(portable), "--compare-spinning",
               "--json", str(out_json)], tmp)
    return out, json.loads(out_json.read_text())


def test_json_has_every_field(xavier_run):
    _, res = xavier_run
    missing = [k for k in fps.REQUIRED_FIELDS if k not in res]
    assert not missing
    assert res["schema"] == fps.SCHEMA and res["device"] == "xavier"
    for k in ("median", "p90", "p99", "mean"):
        assert res["latency_ms"][k] > 0
    assert res["fps"]["from_median"] == pytest.approx(1e3 / res["latency_ms"]["median"])
    assert set(res["stages_ms"]) >= {"preprocess", "frame_graph", "select", "rff_and_tail", "rff_kernel",
                                     "tail_graph", "paste"}
    assert res["memory"]["peak_rss_bytes"] > 0
    assert res["model_size_bytes"]["total"] == os.path.getsize(TINY) + os.path.getsize(TINY[:-5] + ".tail.onnx")
    cx = res["complexity"]
    assert cx["params"] > 0 and cx["gflops_frame"] > 0 and cx["gflops_tail_per_instance"] > 0
    assert cx["gflops_at_instances"] == pytest.approx(cx["gflops_frame"] + 4 * cx["gflops_tail_per_instance"])
    c = res["conditions"]
    assert c["cpu"] and c["threads"] == 1 and c["versions"]["onnxruntime"]
    assert res["settings"]["instances"] == 4 and res["settings"]["source"] == "synthetic"
    assert res["model"]["path"] == TINY and res["model"]["choice"]
    assert res["target"]["target_ms"] == 33.0 and res["target"]["conditions_match"] is False
    assert [r["instances"] for r in res["sweeps"]["instances"]] == [0, 2]
    assert res["sweeps"]["skipped"]  # size and S sweeps need PyTorch builds: --no-build


def test_forced_instance_count(xavier_run):
    _, res = xavier_run
    # threshold 0, NMS off, max_instances = K: exactly K instances on every frame
    assert not any("instead of" in n for n in res["notes"])


def test_estimate_is_labelled_in_table_and_json(xavier_run):
    out, res = xavier_run
    est = res["estimate"]
    assert est["label"] == "ESTIMATE" and est["device"] == "xavier"
    (row,) = est["rows"]
    assert row["label"] == "ESTIMATE" and row["estimate_ms"] > 0 and row["calibration_k"] > 0
    assert row["calibration_references_used"]
    assert est["calibration"] and all(r["k"] > 0 and r["source"] for r in est["calibration"])
    assert "measured here (cpu) + ESTIMATE" in res["mode"]
    assert "[ESTIMATE]" in out and "ESTIMATE -- NVIDIA Jetson Xavier NX" in out
    assert "for comparison only, not calibration" in out
    assert res["paper"]["fps_xavier_nx"] == 5.3


def test_comparisons_ran_side_by_side(xavier_run):
    out, res = xavier_run
    p = res["comparisons"]["portable"]
    assert p["instances_portable"] == 3 and p["median_ms"]["portable_single_graph"] > 0
    (other,) = res["comparisons"]["others"]
    assert other["median_ms"]["other_model_only"] > 0 and other["same_input_size"]
    assert "portable single graph" in out and "model-only" in out
    spin = res["comparisons"]["ort_spinning"]["median_ms"]
    assert set(spin) == {"spinning default (on)", "spinning off"} and all(v > 0 for v in spin.values())


def test_cpu_run_has_no_estimate_and_says_which_model(tmp_path):
    out_json = tmp_path / "cpu.json"
    out = run(["--device", "cpu", "--frames", "2", "--warmup", "1", "--source", "synthetic", "--threads", "1",
               "--no-build", "--json", str(out_json)], tmp_path)
    res = json.loads(out_json.read_text())
    assert res["estimate"] is None and "ESTIMATE" not in out
    assert "FALLBACK" in res["model"]["choice"] or "shipped" in res["model"]["choice"]
    assert res["comparisons"]["portable"].get("skipped")  # no NAME.portable.onnx beside the model
    assert "skipped" in out
