"""The JSON document of one fps.py run (schema fassst_rt.benchmarks.fps/1;
benchmarks/report.py renders the README's tables from it)."""

from typing import Dict, List

import numpy as np

SCHEMA = "fassst_rt.benchmarks.fps/1"
# Top-level JSON fields (tests/test_fps.py checks them).
REQUIRED_FIELDS = ("schema", "device", "mode", "model", "conditions", "settings", "latency_ms", "fps",
                   "stages_ms", "memory", "model_size_bytes", "complexity", "target", "comparisons",
                   "sweeps", "estimate", "paper", "notes")


def model_fields(path: str, choice: str, meta) -> Dict[str, object]:
    return {"path": path, "choice": choice, "input_size": meta.input_size, "grid_size": meta.grid_size,
            "max_instances": meta.num_cells, "mask_channels": meta.mask_channels, "roi_size": meta.roi_size,
            "classes": meta.num_classes}


def settings_fields(args, instances: int, source: str, frames: List[np.ndarray], input_size: int,
                    threads: int) -> Dict[str, object]:
    return {"frames": args.frames, "warmup": args.warmup, "instances": instances,
            "instances_asked": args.instances, "source": source, "frame_count": len(frames),
            "frame_sizes": sorted(set("{}x{}".format(f.shape[1], f.shape[0]) for f in frames)),
            "input_size": input_size, "threads": threads, "score_threshold": 0.0,
            "nms_threshold": 1.0, "max_instances": instances,
            "ort_spinning": args.ort_spinning,
            "what_is_timed": "Segmenter.run + mask paste (whole frame); medians"}


def memory_fields(peak: int, rss_before: int) -> Dict[str, object]:
    return {"peak_rss_bytes": peak, "rss_before_model_bytes": rss_before, "peak_rss_delta_bytes": peak - rss_before,
            "note": "peak resident set of this process after the main measurement"}


def assemble(device: str, mode: str, model: Dict[str, object], conditions: Dict[str, object],
             settings: Dict[str, object], measured: Dict[str, object], memory: Dict[str, object],
             sizes: Dict[str, int], complexity: Dict[str, object], target: Dict[str, object],
             comparisons: Dict[str, object], sweeps: Dict[str, object], estimate, notes: List[str]) -> Dict[str, object]:
    """Every field in REQUIRED_FIELDS' order; ``measured`` is stage_timing.measure_main's result.
    ``notes`` is kept by reference: what is appended later (the plot's outcome) is written too."""
    import devices as devices_mod

    lat = measured["latency"]
    return {
        "schema": SCHEMA,
        "device": device,
        "mode": mode,
        "model": model,
        "conditions": conditions,
        "settings": settings,
        "latency_ms": lat,
        "fps": {"from_median": 1e3 / lat["median"], "from_mean": 1e3 / lat["mean"]},
        "stages_ms": measured["stages"],
        "memory": memory,
        "model_size_bytes": sizes,
        "complexity": complexity,
        "target": target,
        "comparisons": comparisons,
        "sweeps": sweeps,
        "estimate": estimate,
        "paper": devices_mod.PAPER,
        "notes": notes,
    }
