"""fps.py's main: choose the device, model and frames, measure, compare, sweep,
estimate, and report (printed, --json, --plot)."""

import json
import os
import shutil
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

from fassst_rt.atomic import atomic_write_text

from . import result
from .cli import parse_args
from .comparisons import run_comparisons
from .complexity import counted_complexity, model_sizes
from .conditions import conditions, detect_device, load_average
from .estimate import device_estimate
from .frames import load_frames
from .memory import peak_rss_bytes, rss_now_bytes
from .models import BUILD_FLAG, build_main, choose_model, torch_available
from .modes import RunMode, on_device, plan_run
from .plots import plot
from .spinning import install_spinning_hook, set_ort_spinning
from .stage_timing import Pipeline, measure_main
from .sweeps import run_sweeps
from .target import judge_target
from .whole_frame import run_whole_frame
from .text_report import print_report


def open_pipeline(model: str, run: RunMode, threads: int, args, notes: List[str]) -> Pipeline:
    try:
        pipe = Pipeline(model, run.backend, run.device, threads, args.instances)
    except (ValueError, OSError, RuntimeError) as exc:  # ModelError is a ValueError
        raise SystemExit("fps.py: error: cannot open {} on {} ({}): {}".format(model, run.device, run.backend, exc))
    m = pipe.meta
    if m.grid is not None:
        raise SystemExit("fps.py: {} is a stride-grid (one pass per frame) model: its input takes each frame's "
                         "shape, which this forced-K timing of square inputs does not model; time it with "
                         "--whole-frame [IMAGE] --models {}".format(model, model))
    if args.size and args.size != m.input_size:
        raise SystemExit("fps.py: {} is fixed at input {}; --size {} needs --arch NAME (a random-weight "
                         "model of a known architecture built at that size)".format(model, m.input_size, args.size))
    if args.instances > m.num_cells:
        notes.append("K = {} asked, but the model holds at most S*S = {}: K = {}".format(
            args.instances, m.num_cells, pipe.instances))
    return pipe


def measure(args, threads: int, notes: List[str], tmp: str) -> Dict[str, object]:
    """The whole run, as the JSON document."""
    can_build = torch_available() and not args.no_build
    run = plan_run(args.device, args.backend, detect_device())
    model, choice = choose_model(args.arch, args.size, args.model, tmp)
    if run.on_target:
        model, run = on_device(model, run, args.device, notes)
    source, frames = load_frames(args.source, args.instances, notes)
    rss_before = rss_now_bytes()
    pipe = open_pipeline(model, run, threads, args, notes)
    m = pipe.meta
    providers = getattr(pipe.seg.backend, "providers", [])  # type: Sequence[str]
    cond = conditions(threads, pipe.seg.backend.name, providers)
    split = pipe.seg.backend.name == "onnxruntime" and run.device == "cpu"
    if not split:
        notes.append("RFF kernel and tail graph are not timed apart on this backend (device arrays)")

    measured = measure_main(pipe, frames, args.frames, args.warmup, split)
    peak = peak_rss_bytes()
    if measured["instances_seen"] != [pipe.instances]:
        notes.append("instances per frame were {} instead of {}".format(measured["instances_seen"], pipe.instances))
    cx = counted_complexity(model, pipe.instances)
    sizes = model_sizes(model)
    comparisons = run_comparisons(args, pipe, model, frames, threads, providers, run.backend, run.device, tmp)
    target = judge_target(measured["latency"]["median"], m.input_size, pipe.instances, run.device,
                          comparisons["others"])
    sweeps = run_sweeps(args, pipe, frames, run.backend, run.device, threads, can_build, tmp)
    estimate = None
    if run.estimate_for:
        estimate = device_estimate(run.estimate_for, model, m, pipe.instances, args.precision)
    cond["load_average_after"] = load_average()
    doc = result.assemble(
        args.device, run.mode, result.model_fields(model, choice, m), cond,
        result.settings_fields(args, pipe.instances, source, frames, m.input_size, threads), measured,
        result.memory_fields(peak, rss_before), sizes, cx, target, comparisons, sweeps, estimate, notes)
    pipe.close()
    return doc


def write_outputs(doc: Dict[str, object], args, notes: List[str]) -> None:
    print_report(doc)
    if args.plot:
        problem = plot(doc, args.plot)
        if problem:
            notes.append(problem)
            print("note: " + problem)
        else:
            print("wrote {}".format(args.plot))
    if args.json:
        atomic_write_text(args.json, json.dumps(doc, indent=2, default=float))
        print("wrote {}".format(args.json))


def main(argv: Optional[Sequence[str]] = None, description: Optional[str] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [BUILD_FLAG]:
        return build_main(argv[1], int(argv[2]), int(argv[3]), argv[4])
    args = parse_args(argv, description)
    if args.whole_frame:
        return run_whole_frame(args)
    notes = []  # type: List[str]
    install_spinning_hook()
    set_ort_spinning(args.ort_spinning)
    if args.ort_spinning != "default":
        notes.append("diagnostic run: ONNX Runtime intra-op spinning forced {}".format(args.ort_spinning))
    threads = args.threads or os.cpu_count() or 1
    tmp = tempfile.mkdtemp(prefix="fassst_fps_")
    try:
        write_outputs(measure(args, threads, notes, tmp), args, notes)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
