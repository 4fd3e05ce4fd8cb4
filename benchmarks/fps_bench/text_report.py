"""The printed report of one fps.py run: conditions, whole frame and stages,
comparisons, sweeps, and the ESTIMATE block, labelled as such."""

import os
from typing import Dict


def fmt_ms(v: float) -> str:
    return "{:8.2f} ms".format(v) if v == v else "      n/a"


def print_header(res: Dict[str, object]) -> None:
    c = res["conditions"]
    print("fassst_rt fps: device {} ({})".format(res["device"], res["mode"]))
    print("model: {} [{}]".format(res["model"]["path"], res["model"]["choice"]))
    print("conditions: {}, {} cores, {} threads, load {} -> {}, backend {} [{}], onnxruntime {}, numpy {}, "
          "python {}".format(
        c["cpu"], c["cpu_count"], c["threads"],
        "/".join("{:.1f}".format(v) for v in (c.get("load_average_before") or [])),
        "/".join("{:.1f}".format(v) for v in (c.get("load_average_after") or [])),
        c["backend"], ",".join(c["providers"]), c["versions"]["onnxruntime"], c["versions"]["numpy"],
        c["versions"]["python"]))
    if c.get("gpu"):
        print("gpu: {}".format(c["gpu"]))
    if c.get("jetson"):
        print("jetson: {}".format(c["jetson"]))
    s = res["settings"]
    print("frames: {} {} frames {}, input {}x{}, K = {} instances (score threshold 0, NMS off, max_instances {}), "
          "{} timed after {} warm-up".format(s["frame_count"], s["source"], s["frame_sizes"], s["input_size"],
                                              s["input_size"], s["instances"], s["instances"], s["frames"],
                                              s["warmup"]))


def print_measurement(res: Dict[str, object]) -> None:
    lat = res["latency_ms"]
    print("")
    print("  {:<22s}{}   p90 {}   p99 {}   min {}   {:6.1f} FPS".format(
        "whole frame (median)", fmt_ms(lat["median"]), fmt_ms(lat["p90"]), fmt_ms(lat["p99"]), fmt_ms(lat["min"]),
        res["fps"]["from_median"]))
    labels = [("preprocess", "preprocess"), ("frame_graph", "frame graph"), ("select", "select"),
              ("rff_and_tail", "RFF + tail"), ("rff_kernel", "  RFF kernel (alone)"),
              ("tail_graph", "  tail graph (alone)"), ("paste", "paste"), ("unattributed", "unattributed")]
    for key, label in labels:
        if key in res["stages_ms"]:
            print("    {:<20s}{}".format(label, fmt_ms(res["stages_ms"][key])))
    mem, size, cx = res["memory"], res["model_size_bytes"], res["complexity"]
    print("  peak RSS {:.0f} MB (+{:.0f} MB after opening the model); model on disk {:.2f} MB "
          "(frame {:.2f} + tail {:.2f})".format(mem["peak_rss_bytes"] / 1e6, mem["peak_rss_delta_bytes"] / 1e6,
                                                size["total"] / 1e6, size["frame"] / 1e6, size["tail"] / 1e6))
    if "params" in cx:
        print("  params {:.3f} M; GFLOPs: frame graph {:.3f} + tail {:.3f} per instance = {:.3f} at K = {}".format(
            cx["params"] / 1e6, cx["gflops_frame"], cx["gflops_tail_per_instance"], cx["gflops_at_instances"],
            cx["instances"]))
    else:
        print("  params/GFLOPs: {}".format(cx.get("note")))
    t = res["target"]
    print("  target: {}".format(t["text"]))


def print_comparisons(res: Dict[str, object]) -> None:
    comp = res["comparisons"]
    if comp:
        print("")
        print("comparisons (side by side: alternating blocks, same process and threads):")
        p = comp.get("portable")
        if p is not None:
            if "skipped" in p:
                print("  fused RFF kernel path vs portable single graph: skipped: {}".format(p["skipped"]))
            else:
                print("  fused RFF kernel path {} vs portable single graph {} (K {} vs {}): portable/fused = {:.2f}x"
                      .format(fmt_ms(p["median_ms"]["fused_rff_kernel_path"]),
                              fmt_ms(p["median_ms"]["portable_single_graph"]), p["instances_fused"],
                              p["instances_portable"], p["ratio_portable_over_fused"]))
        sp = comp.get("ort_spinning")
        if sp:
            print("  ONNX Runtime intra-op spinning (whole frame): " + ", ".join(
                "{} {}".format(k, fmt_ms(v).strip()) for k, v in sp["median_ms"].items()))
        for o in comp.get("others", []):
            if "error" in o:
                print("  {}: error: {}".format(o["path"], o["error"]))
                continue
            print("  model-only: ours {} vs {} {} (input {}): ours/other = {:.2f}x; our whole frame {} = {:.2f}x "
                  "its model-only".format(
                      fmt_ms(o["median_ms"]["ours_model_only"]), os.path.basename(o["path"]),
                      fmt_ms(o["median_ms"]["other_model_only"]), "x".join(map(str, o["input_shape"])),
                      o["ratio_ours_over_other"], fmt_ms(o["median_ms"]["ours_whole_frame"]).strip(),
                      o["ratio_ours_whole_frame_over_other"]))


def print_sweeps(res: Dict[str, object]) -> None:
    s = res["settings"]
    sw = res["sweeps"]
    if sw.get("instances"):
        print("")
        print("FPS vs instances K (whole frame, K values interleaved):")
        for r in sw["instances"]:
            print("  K = {:3d}  {}  {:7.1f} FPS".format(r["instances"], fmt_ms(r["median_ms"]), r["fps"]))
    if sw.get("input_size"):
        print("FPS vs input size ({}; K = {}):".format(sw.get("input_size_note", ""), s["instances"]))
        for r in sw["input_size"]:
            print("  {:4d}  {}  {:7.1f} FPS   {:.2f} GFLOPs (frame)".format(r["input_size"], fmt_ms(r["median_ms"]),
                                                                           r["fps"], r["gflops_frame"]))
    if sw.get("grid_size"):
        print("Table 7 analog, FPS vs S ({}):".format(sw.get("grid_size_note", "")))
        for r in sw["grid_size"]:
            print("  S = {} (holds n = {:2d}): K = n {}  {:6.1f} FPS | K = {} {}  {:6.1f} FPS | paper, 1080 Ti: "
                  "{} FPS".format(r["S"], r["holds"], fmt_ms(r["all_cells_ms"]), 1e3 / r["all_cells_ms"],
                                  r["k_small"], fmt_ms(r["k_small_ms"]), 1e3 / r["k_small_ms"],
                                  r.get("paper_fps_coco_1080ti")))
    for note in sw.get("skipped", []):
        print("  sweep skipped: {}".format(note))


def print_estimate(res: Dict[str, object]) -> None:
    est = res["estimate"]
    if est:
        import roofline
        print("")
        print("=" * 100)
        print("[{}] {} ({}): calibrated roofline, NOT a measurement".format(est["label"], est["device_name"],
                                                                          est["device"]))
        int8 = any("int8" in e for e in est["rows"])
        print("  {:<34s} {:>4s} {:>3s} {:>8s} {:>9s} {:>6s} {:>13s} {:>8s} {:>17s}{}   {}".format(
            "model", "size", "K", "GFLOPs", "raw ms", "k", "ESTIMATE ms", "FPS", "range ms",
            "  {:>18s}".format("INT8 ESTIMATE ms") if int8 else "", "paper (not calibration)"))
        for e in est["rows"]:
            short = "this model" if e["what"].startswith("this model") else "paper arch. (rebuilt)"
            pp = e.get("paper")
            q = e.get("int8")
            print("  {:<34s} {:>4s} {:>3d} {:>8.2f} {:>9.3f} {:>6.2f} {:>13.1f} {:>8.1f} {:>8.1f}-{:<8.1f}{}   {}".format(
                short + " " + e["precision"], str(e.get("input_size", res["model"]["input_size"])), e["instances"],
                e["gflops"], e["raw_roofline_ms"], e["calibration_k"], e["estimate_ms"], e["estimate_fps"],
                e["estimate_ms_range"][0], e["estimate_ms_range"][1],
                "  {:>7.1f} ({:.1f}-{:.1f})".format(q["estimate_ms"], *q["estimate_ms_range"]) if q else
                ("  {:>18s}".format("-") if int8 else ""),
                "{:.1f} FPS = {:.0f} ms".format(pp["fps"], pp["ms"]) if pp else "-")
                  + ("   EXTRAPOLATED (outside the references' span)" if e["calibration_extrapolated"] else ""))
        print("")
        for e in est["rows"]:
            print("[{}] {}".format(e["label"], e["what"]))
            for line in roofline.format_estimate(e):
                print("  " + line)
            if e.get("paper"):
                print("    beside it, for comparison only (not calibration): {:.1f} FPS = {:.0f} ms, {}".format(
                    e["paper"]["fps"], e["paper"]["ms"], e["paper"]["what"]))
        paper = res["paper"]
        print("[paper, for comparison only, not calibration] GTX 1080 Ti: {} FPS at 416, {} FPS at 768; "
              "Jetson Xavier NX: {} FPS (size/precision not stated); {} GFLOPs, {} MB at 416".format(
                  paper["fps_1080ti_416"], paper["fps_1080ti_768"], paper["fps_xavier_nx"], paper["gflops_416"],
                  paper["storage_mb_416"]))
        for note in est.get("notes", []):
            print("  note: " + note)
        print("=" * 100)


def print_report(res: Dict[str, object]) -> None:
    print_header(res)
    print_measurement(res)
    print_comparisons(res)
    print_sweeps(res)
    print_estimate(res)
    for note in res["notes"]:
        print("note: " + note)
