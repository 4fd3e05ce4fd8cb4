"""Markdown tables from benchmarks/fps.py JSON files, for benchmarks/README.md
(so that no number in the README is typed by hand).

    python benchmarks/report.py benchmarks/results/*.json > /tmp/tables.md
"""

import json
import os
import sys


def ms(v):
    return "{:.1f}".format(v) if v == v else "n/a"


def load(paths):
    runs = []
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        if r.get("schema", "").startswith("fassst_rt.benchmarks.fps/"):
            r["_file"] = os.path.basename(p)
            runs.append(r)
    return runs


def label(r):
    m = r["model"]
    what = os.path.basename(m["path"])
    if "random-weight" in m["choice"]:
        what = m["choice"].split(" architecture")[0].replace("random-weight ", "") + " (random weights)"
    return "{} @ {}".format(what, m["input_size"])


def conditions(runs):
    out = ["| run (JSON) | CPU | cores / threads | load average before -> after (1 min) | versions |",
           "|---|---|---|---|---|"]
    for r in runs:
        c = r["conditions"]
        v = c["versions"]
        out.append("| {} | {} | {} / {} | {:.2f} -> {:.2f} | Python {}, onnxruntime {}, numpy {}, opencv {} |".format(
            r["_file"], c["cpu"], c["cpu_count"], c["threads"], c["load_average_before"][0],
            c["load_average_after"][0], v["python"], v["onnxruntime"], v["numpy"], v.get("opencv")))
    return out


def main_table(runs):
    out = ["| model | frames | K | whole frame median / p90 / p99 (ms) | FPS | preprocess | frame graph | select "
           "| RFF + tail (RFF alone, tail alone) | paste | unattributed | GFLOPs (frame + K x tail) | params | "
           "on disk | peak RSS |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lat, st, cx, s = r["latency_ms"], r["stages_ms"], r["complexity"], r["settings"]
        spin = "" if s.get("ort_spinning", "default") == "default" else " (spinning {})".format(s["ort_spinning"])
        out.append("| {}{} | {} {} | {} | {} / {} / {} | {:.1f} | {} | {} | {} | {} ({}, {}) | {} | {} | {:.2f} + {} x "
                   "{:.3f} = {:.2f} | {:.2f} M | {:.1f} MB | {:.0f} MB |".format(
                       label(r), spin, s["frames"], s["source"], s["instances"], ms(lat["median"]), ms(lat["p90"]),
                       ms(lat["p99"]), r["fps"]["from_median"], ms(st.get("preprocess", float("nan"))),
                       ms(st.get("frame_graph", float("nan"))), ms(st.get("select", float("nan"))),
                       ms(st.get("rff_and_tail", float("nan"))), ms(st.get("rff_kernel", float("nan"))),
                       ms(st.get("tail_graph", float("nan"))), ms(st.get("paste", float("nan"))),
                       ms(st.get("unattributed", float("nan"))), cx["gflops_frame"], cx["instances"],
                       cx["gflops_tail_per_instance"], cx["gflops_at_instances"], cx["params"] / 1e6,
                       r["model_size_bytes"]["total"] / 1e6, r["memory"]["peak_rss_bytes"] / 1e6))
    return out


def k_sweep(runs):
    out = []
    for r in runs:
        rows = r["sweeps"].get("instances")
        if not rows:
            continue
        out += ["", "{} ({}):".format(label(r), r["_file"]), "",
                "| K | " + " | ".join(str(x["instances"]) for x in rows) + " |",
                "|---|" + "---|" * len(rows),
                "| whole frame, median ms | " + " | ".join(ms(x["median_ms"]) for x in rows) + " |",
                "| FPS | " + " | ".join("{:.1f}".format(x["fps"]) for x in rows) + " |"]
    return out


def size_sweep(runs):
    out = []
    for r in runs:
        rows = r["sweeps"].get("input_size")
        if not rows:
            continue
        out += ["", "{}, K = {} ({}):".format(r["sweeps"].get("input_size_note"), r["settings"]["instances"],
                                              r["_file"]), "",
                "| input | " + " | ".join(str(x["input_size"]) for x in rows) + " |",
                "|---|" + "---|" * len(rows),
                "| whole frame, median ms | " + " | ".join(ms(x["median_ms"]) for x in rows) + " |",
                "| FPS | " + " | ".join("{:.1f}".format(x["fps"]) for x in rows) + " |",
                "| GFLOPs, frame graph | " + " | ".join("{:.2f}".format(x["gflops_frame"]) for x in rows) + " |"]
    return out


def grid_sweep(runs):
    out = []
    for r in runs:
        rows = r["sweeps"].get("grid_size")
        if not rows:
            continue
        out += ["", "{} ({}):".format(r["sweeps"].get("grid_size_note"), r["_file"]), "",
                "| S | holds n = S x S instances | whole frame, K = n: ms (FPS) | K = 8: ms (FPS) | GFLOPs frame "
                "graph | paper Table 7, GTX 1080 Ti, FPS at n |", "|---|---|---|---|---|---|"]
        for x in rows:
            out.append("| {} | {} | {} ({:.1f}) | {} ({:.1f}) | {:.2f} | {} |".format(
                x["S"], x["holds"], ms(x["all_cells_ms"]), 1e3 / x["all_cells_ms"], ms(x["k_small_ms"]),
                1e3 / x["k_small_ms"], x["gflops_frame"], x.get("paper_fps_coco_1080ti", "-")))
    return out


def comparisons(runs):
    out = ["| run | comparison (side by side in one process, same threads) | A (ms) | B (ms) | A / B |",
           "|---|---|---|---|---|"]
    for r in runs:
        c = r["comparisons"]
        p = c.get("portable") or {}
        if "median_ms" in p:
            out.append("| {} | fused RFF kernel path (A) vs portable single graph (B), K = {} vs {}, no paste | {} | "
                       "{} | {:.2f} |".format(r["_file"], p["instances_fused"], p["instances_portable"],
                                              ms(p["median_ms"]["fused_rff_kernel_path"]),
                                              ms(p["median_ms"]["portable_single_graph"]),
                                              1.0 / p["ratio_portable_over_fused"]))
        for o in c.get("others", []):
            if "median_ms" not in o:
                continue
            name = os.path.basename(o["path"])
            out.append("| {} | ours model-only (A) vs {} model-only (B) | {} | {} | {:.2f} |".format(
                r["_file"], name, ms(o["median_ms"]["ours_model_only"]), ms(o["median_ms"]["other_model_only"]),
                o["median_ms"]["ours_model_only"] / o["median_ms"]["other_model_only"]))
            out.append("| {} | ours whole frame (A) vs {} model-only (B) | {} | {} | {:.2f} |".format(
                r["_file"], name, ms(o["median_ms"]["ours_whole_frame"]), ms(o["median_ms"]["other_model_only"]),
                o["median_ms"]["ours_whole_frame"] / o["median_ms"]["other_model_only"]))
        sp = c.get("ort_spinning")
        if sp:
            (ka, a), (kb, b) = list(sp["median_ms"].items())
            out.append("| {} | whole frame, ONNX Runtime {} (A) vs {} (B) | {} | {} | {:.2f} |".format(
                r["_file"], ka, kb, ms(a), ms(b), a / b))
    return out


def target(runs):
    out = []
    for r in runs:
        t = r["target"]
        spin = r["settings"].get("ort_spinning", "default")
        out.append("- {} ({}, ONNX Runtime spinning {}): {}".format(label(r), r["_file"], spin, t["text"]))
    return out


def estimates(runs):
    out = []
    for r in runs:
        est = r.get("estimate")
        if not est:
            continue
        out += ["", "**ESTIMATE** for {} ({}), from {}; paper figures beside, not used for calibration:".format(
            est["device_name"], est["device"], r["_file"]), "",
            "| model | input | K | precision | GFLOPs | raw roofline ms | calibration k (range) | **ESTIMATE** ms "
            "(FPS) | range ms | INT8 **ESTIMATE** ms (range) | paper (for comparison) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
        seen = set()
        for e in est["rows"]:
            key = (e.get("input_size", r["model"]["input_size"]), e["instances"], round(e["gflops"], 6))
            if key in seen:
                continue  # the measured model is the paper architecture itself: one row
            seen.add(key)
            pp = e.get("paper")
            q = e.get("int8")
            out.append("| {} | {} | {} | {} | {:.2f} | {:.3f} | {:.2f} ({:.2f}-{:.2f}){} | **{:.1f}** ({:.1f}) | "
                       "{:.1f}-{:.1f} | {} | {} |".format(
                           "this model ({})".format(os.path.basename(r["model"]["path"]))
                           if e["what"].startswith("this model") else "paper architecture, rebuilt",
                           e.get("input_size", r["model"]["input_size"]), e["instances"], e["precision"],
                           e["gflops"], e["raw_roofline_ms"], e["calibration_k"], e["calibration_k_range"][0],
                           e["calibration_k_range"][1], " EXTRAPOLATED" if e["calibration_extrapolated"] else "",
                           e["estimate_ms"], e["estimate_fps"], e["estimate_ms_range"][0], e["estimate_ms_range"][1],
                           "**{:.1f}** ({:.1f}-{:.1f})".format(q["estimate_ms"], *q["estimate_ms_range"]) if q else "-",
                           "{:.1f} FPS = {:.0f} ms ({})".format(pp["fps"], pp["ms"], pp["what"]) if pp else "-"))
        out += ["", "Calibration references ({}):".format(est["device"]), "",
                "| network | precision | batch | published ms | raw roofline ms here | k | what the time includes | "
                "source |", "|---|---|---|---|---|---|---|---|"]
        for c in est["calibration"]:
            out.append("| {} | {} | {} | {:.2f} | {:.3f} | {:.2f} | {} | {} |".format(
                c["network"], c["precision"], c["batch"], c["latency_ms"], c["raw_roofline_ms"], c["k"],
                c["includes"], c["source"]))
    return out


def main(argv=None):
    runs = load(sys.argv[1:] if argv is None else argv)
    sections = [("Conditions", conditions(runs)), ("Whole frame and stages", main_table(runs)),
                ("FPS vs K", k_sweep(runs)), ("FPS vs input size", size_sweep(runs)),
                ("Table 7 analog (S)", grid_sweep(runs)), ("Comparisons", comparisons(runs)),
                ("Target", target(runs)), ("Estimates", estimates(runs))]
    for title, lines in sections:
        print("### " + title)
        print("")
        print("\n".join(lines))
        print("")
    return 0


if __name__ == "__main__":
    sys.exit(main())
