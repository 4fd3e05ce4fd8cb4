"""Kernel benchmark: the fused CPU ``roi_fuse`` against the same fusion done
unfused, in NumPy and as an ONNX graph of standard ops run by ONNX Runtime.

    python benchmarks/kernels.py                 # M=128, maps 52/26/13, S=28, K=8 and 36,
                                                 # then the shipped model's shapes
    python benchmarks/kernels.py --threads 1 --runs 50 --json out.json
    python benchmarks/kernels.py --model path/to/model.onnx   # another model's shapes
    python benchmarks/kernels.py --call-overhead # fixed cost of a small call, cold and warm

All variants run side by side in one process, interleaved run by run in an
order drawn afresh (seeded) for every run, so that no variant always follows
the same other one (what ran just before changes what is still in the
caches); same thread count; medians are reported, and ratios are taken between
medians of the same run, each with a 90 % bootstrap interval (the times of
each variant resampled): how far the ratio could move on another draw of the
machine's noise. Both the fused kernel and ONNX Runtime write into a
preallocated output (``out=``, and an ONNX Runtime I/O binding), so neither
pays for allocating or copying its result. The write floor is the time NumPy
takes to fill a preallocated buffer of the output's size, measured in the same
interleaved loop (so with caches as disturbed as the kernel's); it is one
thread (splitting a sub-millisecond fill over Python threads adds their
hand-over to it).
The machine's load average is printed: on a shared machine the medians of
multi-threaded variants suffer most, so compare ratios of the same run.

ONNX Runtime is measured in both of its thread-pool settings and compared at
the faster one. With intra-op spinning on (its default), its idle workers
keep spinning after a run and hold a core while whatever runs next works, so
a spinning session left alive slows down every variant timed after it, ours
included (benchmarks/results/kernels_history.md records by how much). So the
interleaved loop uses a session with spinning off (as fassst_rt's own backend
does), and the spinning session is timed afterwards in a second loop without
our kernel, interleaved with the NumPy and floor variants as before, and then
closed.

--call-overhead times what a call costs besides its work: ops.roi_fuse at
the shipped model's shapes with K = 0 (validation and the Python/C++ entry
only) and K = 1 (plus the thread count, the grids and the tasks of one ROI,
on the calling thread: a call this small wakes no worker), with the default
thread count, back to back ("warm") and each after
writing a buffer larger than the caches ("cold", as after a frame engine
ran). The comments on the entry path (fassst_rt/ops.py, the NumPy bindings,
the thread pool) name it as the way to re-measure their choices.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from numpy_rff import roi_fuse_numpy  # noqa: E402  (benchmarks/ helper)

from fassst_rt import ops  # noqa: E402
from fassst_rt.atomic import atomic_write_text  # noqa: E402
from fassst_rt.onnx_rff import rff_model  # noqa: E402


ORT_QUIET = "onnxruntime, spinning off"
ORT_SPINNING = "onnxruntime, spinning on"
SHIPPED_MODEL = str(Path(__file__).resolve().parent.parent / "engines" / "fassst_default.onnx")


def ort_session(model_bytes, threads, spinning):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def bound_run(session, feeds, out):
    """session's run with inputs bound once and the output bound to `out` (as ours)."""
    binding = session.io_binding()
    for name, value in feeds.items():
        binding.bind_cpu_input(name, value)
    binding.bind_output("R", "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
    return lambda: session.run_with_iobinding(binding)


def make_case(rng, channels, sizes, num_rois, input_size):
    maps = [rng.standard_normal((1, channels, s, s)).astype(np.float32) for s in sizes]
    centres = rng.uniform(0.1 * input_size, 0.9 * input_size, (num_rois, 2))
    half = rng.uniform(0.05 * input_size, 0.3 * input_size, (num_rois, 2))
    boxes = np.concatenate([centres - half, centres + half], axis=1)
    rois = np.concatenate([np.zeros((num_rois, 1)), boxes], axis=1).astype(np.float32)
    return maps, rois


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_ratio_interval(numerator, denominator, level=0.9, draws=4000, seed=0):
    """(low, high): a percentile-bootstrap interval, at `level`, for
    median(numerator) / median(denominator), each list of times resampled on
    its own. How far the ratio of one run's medians could move with another
    draw of the same machine's noise."""
    rng = np.random.default_rng(seed)
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    if num.size == 0 or den.size == 0:
        raise ValueError("median_ratio_interval: both time lists must be non-empty, got {} and {} times"
                         .format(num.size, den.size))
    num_medians = np.median(num[rng.integers(0, num.size, (draws, num.size))], axis=1)
    den_medians = np.median(den[rng.integers(0, den.size, (draws, den.size))], axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(num_medians / den_medians, [tail, 100.0 - tail])
    return float(low), float(high)


def interleaved(variants, runs, order):
    """{name: [seconds] * runs}: every variant once per run, in an order drawn
    from `order` for each run (after one warm-up call each)."""
    for fn in variants.values():
        fn()
    names = list(variants)
    times = {name: [] for name in names}
    for _ in range(runs):
        for j in order.permutation(len(names)):
            times[names[j]].append(timed(variants[names[j]]))
    return times


def run_case(channels, sizes, out_size, num_rois, threads, runs, strides, seed=0, label=""):
    rng = np.random.default_rng(seed)
    input_size = sizes[0] * strides[0]
    maps, rois = make_case(rng, channels, sizes, num_rois, input_size)
    out = np.empty((num_rois, channels, out_size, out_size), np.float32)
    sink = np.empty_like(out)

    model = rff_model(channels, out_size, strides)
    session = ort_session(model, threads, spinning=False)
    feeds = {"p1": maps[0], "p2": maps[1], "p3": maps[2], "boxes": np.ascontiguousarray(rois[:, 1:]),
             "batch_indices": rois[:, 0].astype(np.int64)}
    ort_out = np.empty_like(out)

    ops.set_num_threads(threads)
    variants = {
        "fused (ours)": lambda: ops.roi_fuse(*maps, rois, out_size, strides, out=out),
        ORT_QUIET: bound_run(session, feeds, ort_out),
        "numpy unfused": lambda: roi_fuse_numpy(*maps, rois, out_size, strides),
        "write floor": lambda: sink.fill(1.0),
    }
    # Agreement first: the three implementations must compute the same thing.
    ours = ops.roi_fuse(*maps, rois, out_size, strides)
    variants[ORT_QUIET]()
    errors = {"onnxruntime": float(np.abs(ort_out - ours).max()),
              "onnxruntime (session.run)": float(np.abs(session.run(None, feeds)[0] - ours).max()),
              "numpy unfused": float(np.abs(roi_fuse_numpy(*maps, rois, out_size, strides) - ours).max())}
    order = np.random.default_rng(seed + 1)
    times = interleaved(variants, runs, order)
    del session, variants[ORT_QUIET]

    # ONNX Runtime's default (spinning) setting, without our kernel: see the
    # module docstring. It is interleaved with the same other variants, so
    # it meets caches as disturbed as in the loop above; only its times are
    # kept (its spinning workers slow the others down).
    spinning = ort_session(model, threads, spinning=True)
    variants[ORT_SPINNING] = bound_run(spinning, feeds, ort_out)
    del variants["fused (ours)"]
    variants[ORT_SPINNING]()
    errors["onnxruntime, spinning on"] = float(np.abs(ort_out - ours).max())
    times[ORT_SPINNING] = interleaved(variants, runs, order)[ORT_SPINNING]
    del spinning, variants
    ops.set_num_threads(0)

    medians = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    minima = {name: min(t) * 1e3 for name, t in times.items()}
    out_bytes = out.nbytes
    fused_ms = medians["fused (ours)"]
    ort_best = min((ORT_QUIET, ORT_SPINNING), key=medians.get)
    return {
        "label": label, "channels": channels, "map_sizes": list(sizes), "output_size": out_size, "num_rois": num_rois,
        "threads": threads, "runs": runs, "median_ms": medians, "min_ms": minima,
        "output_bytes": out_bytes,
        "fused_gb_per_s": out_bytes / (fused_ms * 1e-3) / 1e9,
        "write_bandwidth_gb_per_s": out_bytes / (medians["write floor"] * 1e-3) / 1e9,
        "onnxruntime_compared": ort_best,
        "speedup_vs_onnxruntime": medians[ort_best] / fused_ms,
        "speedup_vs_onnxruntime_interval_90": median_ratio_interval(times[ort_best], times["fused (ours)"]),
        "speedup_vs_numpy": medians["numpy unfused"] / fused_ms,
        "ratio_to_write_floor": fused_ms / medians["write floor"],
        "ratio_to_write_floor_interval_90": median_ratio_interval(times["fused (ours)"], times["write floor"]),
        "speedup_vs_onnxruntime_of_minima": min(minima[ORT_QUIET], minima[ORT_SPINNING]) / minima["fused (ours)"],
        "ratio_to_write_floor_of_minima": minima["fused (ours)"] / minima["write floor"],
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "max_abs_diff_vs_ours": errors,
    }


def model_case(path):
    """(label, channels, map sizes, S, strides) of an exported model, from its metadata."""
    from fassst_rt.metadata import ModelMetadata
    from fassst_rt.model_files import METADATA_KEY
    from fassst_rt.tensorrt.build import read_onnx_metadata_props

    props = read_onnx_metadata_props(str(path))
    if METADATA_KEY not in props:
        raise SystemExit("{}: has no '{}' metadata (export models with `fassst-rt export`)"
                         .format(path, METADATA_KEY))
    m = ModelMetadata.from_json(props[METADATA_KEY], source=str(path))
    sizes = tuple(int(np.ceil(m.input_size / s)) for s in m.strides)
    return Path(path).name, m.mask_channels, sizes, m.roi_size, tuple(m.strides)


SHIPPED_SHAPES = (32, (24, 12, 6), 16, (8, 16, 32))  # M, map sizes, S, strides


def call_overhead(runs, evict_bytes=64 << 20, seed=0):
    """{"K=k, warm|cold": median us} of ops.roi_fuse calls at the shipped
    model's shapes: back to back, and each after writing `evict_bytes`
    (outside the timed region), with the default thread count."""
    channels, sizes, out_size, strides = SHIPPED_SHAPES
    rng = np.random.default_rng(seed)
    evict = np.empty(evict_bytes // 4, np.float32)
    ops.set_num_threads(0)
    medians = {}
    for k in (0, 1):
        maps, rois = make_case(rng, channels, sizes, k, sizes[0] * strides[0])
        out = np.empty((k, channels, out_size, out_size), np.float32)

        def call():
            return ops.roi_fuse(*maps, rois, out_size, strides, out=out)

        call()
        warm, cold = [], []
        for _ in range(runs):
            warm.append(timed(call))
        for _ in range(runs):
            evict.fill(1.0)
            cold.append(timed(call))
        medians["K={}, warm".format(k)] = statistics.median(warm) * 1e6
        medians["K={}, cold".format(k)] = statistics.median(cold) * 1e6
    return medians


def print_case(r):
    print("\n{label}M={channels} maps={map_sizes} S={output_size} K={num_rois} threads={threads} runs={runs}"
          " (load average {load})".format(load="?" if r["load_average"] is None else "%.1f" % r["load_average"],
                                          **dict(r, label=r["label"] + ": " if r.get("label") else "")))
    print("  {:<26s} {:>9s}    {:>9s}".format("", "median", "min"))
    for name, ms in r["median_ms"].items():
        print("  {:<26s} {:9.3f} ms {:9.3f} ms".format(name, ms, r["min_ms"][name]))
    print("  output {:.1f} MB written at {:.2f} GB/s (buffer write bandwidth {:.2f} GB/s)".format(
        r["output_bytes"] / 1e6, r["fused_gb_per_s"], r["write_bandwidth_gb_per_s"]))
    print("  fused vs onnxruntime: {:.1f}x faster (90% interval {:.1f}-{:.1f}x; target >= 10x: {};"
          " vs its faster setting, {})".format(
              r["speedup_vs_onnxruntime"], *r["speedup_vs_onnxruntime_interval_90"],
              "met" if r["speedup_vs_onnxruntime"] >= 10 else "NOT met", r["onnxruntime_compared"]))
    print("  fused vs numpy:       {:.1f}x faster".format(r["speedup_vs_numpy"]))
    print("  fused / write floor:  {:.2f}x (90% interval {:.2f}-{:.2f}x; target <= 3x: {})".format(
        r["ratio_to_write_floor"], *r["ratio_to_write_floor_interval_90"],
        "met" if r["ratio_to_write_floor"] <= 3 else "NOT met"))
    print("  of the minima:        {:.1f}x faster than onnxruntime, {:.2f}x the write floor".format(
        r["speedup_vs_onnxruntime_of_minima"], r["ratio_to_write_floor_of_minima"]))
    print("  max |diff| vs fused:  " + ", ".join("{} {:.2e}".format(k, v)
                                                 for k, v in r["max_abs_diff_vs_ours"].items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=128, help="M (default 128)")
    parser.add_argument("--map-size", type=int, default=52, help="p1 side; p2, p3 are /2, /4 (default 52)")
    parser.add_argument("--output-size", type=int, default=28, help="S (default 28)")
    parser.add_argument("--rois", type=int, nargs="+", default=[8, 36], help="K values (default 8 36)")
    parser.add_argument("--threads", type=int, default=0, help="threads for every variant (0: all cores)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per variant (default 30)")
    parser.add_argument("--model", default=None,
                        help="also run at this exported model's shapes (M, maps, S, strides from its "
                             "metadata); default: engines/fassst_default.onnx when present; '' for none")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--call-overhead", action="store_true",
                        help="only time small roi_fuse calls (K = 0 and 1, the shipped model's shapes), "
                             "warm and cold; see the module docstring")
    args = parser.parse_args(argv)
    if args.call_overhead:
        medians = call_overhead(args.runs)
        print("ops.roi_fuse at M={} maps={} S={}, default thread count ({}), median of {} calls:".format(
            SHIPPED_SHAPES[0], list(SHIPPED_SHAPES[1]), SHIPPED_SHAPES[2], ops.get_num_threads(), args.runs))
        for name, us in medians.items():
            print("  {:<10s} {:8.1f} us".format(name, us))
        if args.json:
            atomic_write_text(args.json, json.dumps({"call_overhead_median_us": medians, "runs": args.runs}, indent=2))
        return 0

    threads = args.threads or ops.get_num_threads()
    sizes = (args.map_size, (args.map_size + 1) // 2, (args.map_size + 3) // 4)
    import onnxruntime

    conditions = {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                  "numpy": np.__version__, "onnxruntime": onnxruntime.__version__, "threads": threads,
                  "build": ops.build_info()}
    print("conditions: " + json.dumps({k: v for k, v in conditions.items() if k != "build"}))
    cases = [("", args.channels, sizes, args.output_size, (8, 16, 32))]
    model = args.model
    if model is None:
        model = SHIPPED_MODEL if os.path.isfile(SHIPPED_MODEL) else ""
    if model:
        cases.append(model_case(model))
    results = [run_case(channels, map_sizes, out_size, k, threads, args.runs, strides, label=label)
               for label, channels, map_sizes, out_size, strides in cases for k in args.rois]
    for r in results:
        print_case(r)
    if args.json:
        atomic_write_text(args.json, json.dumps({"conditions": conditions, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
