"""FPS against K (any model), against the input size and against S (the paper's
Table 7; random-weight models built with PyTorch), each sweep's points interleaved."""

import statistics
from typing import Dict, List

import numpy as np

from .complexity import complexity
from .models import build_timing_model
from .side_by_side import time_models
from .stage_timing import Pipeline
from .stats import percentile


def parse_ints(text: str) -> List[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def sweep_instances(pipe: Pipeline, frames: List[np.ndarray], values: List[int], n: int) -> List[Dict[str, object]]:
    """Whole-frame latency for each K, the K values interleaved run by run."""
    values = [k for k in values if 0 <= k <= pipe.meta.num_cells]
    times = {k: [] for k in values}
    stages = {k: {} for k in values}
    keep = pipe.seg.max_instances
    for k in values:  # warm-up per K (the tail's batch size changes)
        pipe.seg.max_instances = k
        pipe.whole_frame(frames[0])
    for i in range(n):
        for k in values:
            pipe.seg.max_instances = k
            ms, inst = pipe.whole_frame(frames[i % len(frames)])
            times[k].append(ms)
            for name, v in inst.timings.items():
                stages[k].setdefault(name, []).append(v)
    pipe.seg.max_instances = keep
    rows = []
    for k in values:
        med = statistics.median(times[k])
        rows.append({"instances": k, "median_ms": med, "p90_ms": percentile(times[k], 90), "fps": 1e3 / med,
                     "stages_ms": {s: statistics.median(v) for s, v in stages[k].items()}, "runs": n})
    return rows


def sweep_input_size(arch: str, sizes: List[int], frames: List[np.ndarray], n: int, backend: str, device: str,
                     threads: int, instances: int, out_dir: str) -> List[Dict[str, object]]:
    """Whole-frame latency of random-weight ``arch`` models at each input size, sizes interleaved."""
    models = {size: build_timing_model(arch, size, None, out_dir) for size in sizes}
    pipes = {s: Pipeline(p, backend, device, threads, instances) for s, p in models.items()}
    runs = {s: (lambda p=p: p.whole_frame(frames[0])) for s, p in pipes.items()}
    res = time_models(runs, n)
    rows = []
    for s in sorted(pipes):
        cxs = complexity(models[s], pipes[s].instances)
        rows.append({"input_size": s, "median_ms": res[s]["median"], "fps": 1e3 / res[s]["median"],
                     "gflops_frame": cxs["gflops_frame"], "instances": pipes[s].instances})
        pipes[s].close()
    return rows


def sweep_grid_size(arch: str, size: int, frames: List[np.ndarray], n: int, backend: str, device: str,
                    threads: int, out_dir: str) -> List[Dict[str, object]]:
    """The paper's Table 7 analog: random-weight ``arch`` models at ``size`` with S = 4, 6, 8,
    every cell filled (K = S*S) against a few instances (K = 8), side by side."""
    import devices as devices_mod

    rows = []
    for grid in (4, 6, 8):
        path = build_timing_model(arch, size, grid, out_dir)
        p = Pipeline(path, backend, device, threads, grid * grid)
        k_small = min(8, grid * grid)

        def all_cells(p=p):
            p.seg.max_instances = p.meta.num_cells
            p.whole_frame(frames[0])

        def few(p=p, k=k_small):
            p.seg.max_instances = k
            p.whole_frame(frames[0])

        r = time_models({"all": all_cells, "few": few}, n)
        rows.append({"S": grid, "holds": grid * grid, "all_cells_ms": r["all"]["median"],
                     "paper_fps_coco_1080ti": devices_mod.PAPER["table7_fps_coco"][grid * grid],
                     "k_small": k_small, "k_small_ms": r["few"]["median"],
                     "gflops_frame": complexity(path, grid * grid)["gflops_frame"]})
        p.close()
    return rows


def run_sweeps(args, pipe: Pipeline, frames: List[np.ndarray], backend: str, device: str, threads: int,
               can_build: bool, out_dir: str) -> Dict[str, object]:
    """The sweeps --sweeps asks for; the size and S sweeps only where models can be built."""
    sweeps = {"skipped": []}  # type: Dict[str, object]
    if not args.sweeps:
        return sweeps
    n = max(args.sweep_frames or args.frames // 4, 5)
    kvals = parse_ints(args.sweep_k) if args.sweep_k else sorted(set([0, 1, 2, 4, 8, 16, pipe.meta.num_cells]))
    sweeps["instances"] = sweep_instances(pipe, frames, kvals, n)
    if not can_build:
        sweeps["skipped"].append("input-size and S sweeps need random-weight models built with PyTorch "
                                 "(Python >= 3.10){}".format(" (--no-build given)" if args.no_build else ""))
        return sweeps
    arch = args.sweep_arch or args.arch or "paper"
    sweeps["input_size"] = sweep_input_size(arch, parse_ints(args.sweep_sizes), frames, n, backend, device,
                                            threads, args.instances, out_dir)
    sweeps["input_size_arch"] = arch
    sweeps["input_size_note"] = "random-weight {} models, sizes interleaved".format(arch)
    size = args.size or (pipe.meta.input_size if args.arch else 416)
    sweeps["grid_size"] = sweep_grid_size(arch, size, frames, n, backend, device, threads, out_dir)
    sweeps["grid_size_note"] = ("random-weight {} models at {}; 'holds' = S*S, the most instances a "
                                "frame can have; paper Table 7 (FPS_coco at n = 16/36/64): "
                                "65.1/59.2/49.6 on a GTX 1080 Ti".format(arch, size))
    return sweeps
