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
    from fps_bench import conditions, plots, result  # noqa: E402
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
    missing = [k for k in result.REQUIRED_FIELDS if k not in res]
    assert not missing
    assert res["schema"] == result.SCHEMA and res["device"] == "xavier"
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
    t = res["target"]
    assert t["reference_ms"] == 33.0 and t["conditions_match"] is False and t["met"] is False
    # --compare TINY (same input size) is the measured budget of this run, not the 33 ms figure
    assert t["budget_ms"] == res["comparisons"]["others"][0]["median_ms"]["other_model_only"]
    assert "measured in this run" in t["budget_source"]
    assert t["ratio"] == pytest.approx(t["whole_frame_ms"] / t["budget_ms"])
    assert "unattributed" in res["stages_ms"]
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
    rows = est["rows"]
    assert rows[0]["what"].startswith("this model") and rows[0]["instances"] == 4
    # the paper's architecture, from the committed shape-only graphs (no PyTorch): 416 K 8 / K 36, 768 K 8
    assert [(r.get("input_size"), r["instances"]) for r in rows[1:]] == [(416, 8), (416, 36), (768, 8)]
    for row in rows:
        assert row["label"] == "ESTIMATE" and row["estimate_ms"] > 0 and row["calibration_k"] > 0
        assert row["calibration_references_used"] and row["precision"] == "fp16"
        lo, hi = row["estimate_ms_range"]
        assert lo <= row["estimate_ms"] <= hi
    # the paper's Xavier NX figure is shown beside the paper-architecture rows, and is not a reference
    assert all(r["paper"]["fps"] == 5.3 for r in rows[1:])
    assert est["calibration"] and all(r["k"] > 0 and r["source"] for r in est["calibration"])
    assert not any("fassst" in r["network"].lower() for r in est["calibration"])
    assert "measured here (cpu) + ESTIMATE" in res["mode"]
    assert "[ESTIMATE] NVIDIA Jetson Xavier NX" in out and "NOT a measurement" in out
    assert "ESTIMATE -- NVIDIA Jetson Xavier NX" in out and "ESTIMATE ms" in out
    assert "for comparison only (not calibration)" in out
    assert res["paper"]["fps_xavier_nx"] == 5.3


def test_estimate_has_an_int8_column_on_jetsons(xavier_run):
    out, res = xavier_run
    rows = res["estimate"]["rows"]
    for row in rows:
        q = row["int8"]
        assert q["label"] == "ESTIMATE" and q["calibration_k"] > 0
        assert q["estimate_ms_range"][0] <= q["estimate_ms"] <= q["estimate_ms_range"][1]
    # INT8 moves half the bytes of FP16 and has twice its peak on the Xavier: never slower
    big = rows[-1]  # the paper's architecture at 768
    assert big["int8"]["estimate_ms"] < big["estimate_ms"]
    assert "INT8 ESTIMATE ms" in out
    assert any("Not the DLA" in n for n in res["estimate"]["notes"])


def test_comparisons_ran_side_by_side(xavier_run):
    out, res = xavier_run
    p = res["comparisons"]["portable"]
    assert p["instances_portable"] == 3 and p["median_ms"]["portable_single_graph"] > 0
    assert p["origin"] == "given with --compare-portable"
    (other,) = res["comparisons"]["others"]
    assert other["median_ms"]["other_model_only"] > 0 and other["same_input_size"]
    assert other["median_ms"]["ours_whole_frame"] > 0
    assert "portable single graph" in out and "model-only" in out
    spin = res["comparisons"]["ort_spinning"]["median_ms"]
    assert set(spin) == {"spinning off (backend default)", "spinning on"} and all(v > 0 for v in spin.values())


def test_cpu_run_has_no_estimate_and_says_which_model(tmp_path):
    out_json = tmp_path / "cpu.json"
    out = run(["--device", "cpu", "--frames", "2", "--warmup", "1", "--source", "synthetic", "--threads", "1",
               "--no-build", "--json", str(out_json)], tmp_path)
    res = json.loads(out_json.read_text())
    assert res["estimate"] is None and "ESTIMATE" not in out
    assert "FALLBACK" in res["model"]["choice"] or "shipped" in res["model"]["choice"]
    # the portable single graph is exported on the fly, with the same forced K as the fused path
    p = res["comparisons"]["portable"]
    assert "built here" in p["origin"] and p["instances_portable"] == p["instances_fused"] == 8
    assert res["target"]["budget_ms"] == 33.0 and "NOT measured in this run" in res["target"]["budget_source"]
    assert "sweep skipped" not in out  # no --sweeps asked


def test_jetson_conditions_from_a_fake_sysfs(tmp_path):
    """Power mode and clock locks are read the way a Jetson exposes them (here a fake tree:
    Xavier NX after `sudo jetson_clocks`: GPU devfreq min = max, CPU scaling min = max)."""
    def write(rel, text):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    write("etc/nv_tegra_release", "# R35 (release), REVISION: 4.1, GCID: 33958178\n")
    write("proc/device-tree/model", "NVIDIA Jetson Xavier NX Developer Kit\x00")
    for name, value in (("min_freq", "1109250000"), ("max_freq", "1109250000"), ("cur_freq", "1109250000")):
        write("sys/class/devfreq/17000000.gv11b/" + name, value)
    write("sys/class/devfreq/15340000.vic/min_freq", "1")
    for cpu in (0, 1):
        for name, value in (("scaling_min_freq", "1907200"), ("scaling_max_freq", "1907200"),
                            ("scaling_cur_freq", "1907200"), ("scaling_governor", "schedutil")):
            write("sys/devices/system/cpu/cpu{}/cpufreq/{}".format(cpu, name), value)
    info = conditions.jetson_info(str(tmp_path))
    assert info["model"] == "NVIDIA Jetson Xavier NX Developer Kit"
    assert info["nv_tegra_release"].startswith("# R35")
    assert info["gpu_clock_hz"]["devfreq"] == "17000000.gv11b" and info["gpu_clock_hz"]["locked"]
    assert info["cpu_clocks_all_locked"] is True and info["clocks_locked"] is True
    write("sys/devices/system/cpu/cpu1/cpufreq/scaling_min_freq", "115200")  # jetson_clocks not run
    assert conditions.jetson_info(str(tmp_path))["clocks_locked"] is False
    assert conditions.jetson_info(str(tmp_path / "nowhere")) is None  # not a Jetson


def test_plot_without_matplotlib(tmp_path):
    """--plot falls back to OpenCV (part of the cpu/gpu extras) when matplotlib is absent."""
    pytest.importorskip("cv2")
    panels = [{"title": "FPS vs K", "xlabel": "K", "ylabel": "FPS", "x": [0, 1, 8, 36], "y": [60, 50, 30, 10],
               "hline": 30.3, "hline_label": "target: 33 ms"},
              {"title": "FPS vs size", "xlabel": "px", "ylabel": "FPS", "x": [320, 416], "y": [20, 12]}]
    out = tmp_path / "fps.png"
    assert plots.plot_opencv(panels, "caption", str(out)) is None
    import cv2
    img = cv2.imread(str(out))
    assert img is not None and img.shape[1] == 2 * 520


def test_whole_frame_runs_each_model_with_its_own_defaults(tmp_path):
    # A real-sized frame through the tiled default model and the one-pass
    # dense engine, beside the tiny model timed network-only: each row has its
    # median and, for our models, the stages and instances the Segmenter saw.
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    frame = np.full((300, 420), 20, np.uint8)
    for _ in range(30):
        cv2.circle(frame, (int(rng.integers(10, 410)), int(rng.integers(10, 290))), 9, 200, -1)
    cv2.imwrite(str(tmp_path / "frame.png"), frame)
    models = [os.path.join(REPO, "engines", n) for n in ("fassst_dense.onnx", "fassst_default.onnx")]
    out_json = tmp_path / "whole.json"
    run(["--whole-frame", str(tmp_path / "frame.png"), "--models"] + models
        + ["--compare", TINY, "--blocks", "1", "--threads", "1", "--json", str(out_json)], tmp_path)
    res = json.loads(out_json.read_text())
    assert res["shape"] == [300, 420]
    dense, default, tiny = (res["results"][k] for k in ("fassst_dense.onnx", "fassst_default.onnx",
                                                       "tiny.onnx (network only, 128x128)"))
    assert tiny["vs_last_compare"] == 1.0 and "stages_median_ms" not in tiny
    assert "tiles" not in dense["stages_median_ms"] and default["stages_median_ms"]["tiles"] >= 4
    for row in (dense, default):
        assert row["runs"] == 3 and row["median_ms"] > 0
        assert row["vs_last_compare"] == pytest.approx(row["median_ms"] / tiny["median_ms"])


def test_forced_k_timing_refuses_a_stride_grid_model(tmp_path):
    dense = os.path.join(REPO, "engines", "fassst_dense.onnx")
    proc = subprocess.run([sys.executable, FPS, "--model", dense, "--frames", "2", "--no-build"], cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode != 0 and "stride-grid" in out and "--whole-frame" in out and "Traceback" not in out
