"""A model opened for timing, and the main measurement: whole frames through
``Segmenter.run`` (masks pasted, tiling off) with the Segmenter's own stage timers,
the RFF kernel and the tail graph also timed alone on each frame's own inputs."""

import statistics
import time
from typing import Dict, List, Tuple

import numpy as np

from . import segmenter_steps
from .stats import summary


class Pipeline(object):
    """One model opened for timing: the Segmenter and what the side-by-side runs need.
    Frames run with score threshold 0, NMS off and max_instances = K, so that exactly
    K = min(K, S*S) instances reach the RFF kernel and the tail whatever the weights."""

    def __init__(self, path: str, backend: str, device: str, threads: int, instances: int) -> None:
        from fassst_rt import Segmenter, ops

        self.path = path
        cpu_threads = threads if device == "cpu" or path.endswith(".onnx") else None  # TensorRT: no CPU threads
        self.seg = Segmenter(path, backend=backend, device=device, score_threshold=0.0, nms_threshold=1.0,
                             max_instances=max(instances, 0), tile=False, num_threads=cpu_threads)
        ops.set_num_threads(threads)
        self.meta = self.seg.metadata
        self.instances = min(max(instances, 0), self.meta.num_cells)
        self.seg.max_instances = self.instances
        self.cache = {}  # type: Dict[int, Tuple[np.ndarray, object, np.ndarray]]  # id(frame) -> prepared()

    def network_input(self, frame: np.ndarray) -> np.ndarray:
        return segmenter_steps.preprocess(self.seg, [frame]).batch

    def prepared(self, frame: np.ndarray):
        """The frame's network input, frame-graph outputs and selected ROIs (as the Segmenter
        selects them), computed once per frame."""
        key = id(frame)
        if key not in self.cache:
            x = self.network_input(frame)
            out = self.seg.backend.run_frame(x)
            rois = segmenter_steps.select(self.seg, out, 1).rois
            self.cache[key] = (x, out, rois)
        return self.cache[key]

    def whole_frame(self, frame: np.ndarray):
        t0 = time.perf_counter()
        inst = self.seg.run(frame)
        inst.masks  # paste (lazy in the Segmenter): part of a whole frame
        return (time.perf_counter() - t0) * 1e3, inst

    def rff_and_tail(self, frame: np.ndarray) -> Tuple[float, float]:
        """The RFF kernel and the tail graph timed separately on the frame's own inputs."""
        from fassst_rt import ops

        _, out, rois = self.prepared(frame)
        if len(rois) == 0:
            return 0.0, 0.0
        m = self.meta
        t0 = time.perf_counter()
        fused = ops.roi_fuse(out.p1, out.p2, out.p3, rois, m.roi_size, tuple(m.strides))
        t1 = time.perf_counter()
        self.seg.backend.run_tail(fused)
        t2 = time.perf_counter()
        return (t1 - t0) * 1e3, (t2 - t1) * 1e3

    def model_only(self, frame: np.ndarray) -> float:
        """Frame graph + RFF + tail on a prepared input: the network compute alone."""
        x, _, rois = self.prepared(frame)
        t0 = time.perf_counter()
        out = self.seg.backend.run_frame(x)
        if len(rois):
            self.seg.backend.fuse_and_tail(out, rois)
        return (time.perf_counter() - t0) * 1e3

    def close(self) -> None:
        self.seg.close()


# The Segmenter's timer names -> the JSON's stage names
STAGE_NAMES = {"preprocess": "preprocess", "frame": "frame_graph", "select": "select", "rff_tail": "rff_and_tail",
               "paste": "paste"}


def measure_main(pipe: Pipeline, frames: List[np.ndarray], n: int, warmup: int, split: bool) -> Dict[str, object]:
    """``n`` whole frames after ``warmup`` (at least one pass over the frames); ``split``: the
    RFF kernel and the tail graph are also timed alone after each frame."""
    pipe.seg.warmup()
    for i in range(max(warmup, len(frames))):
        f = frames[i % len(frames)]
        pipe.whole_frame(f)
        if split:
            pipe.rff_and_tail(f)
    whole, stages, ks = [], {}, []  # type: Tuple[List[float], Dict[str, List[float]], List[int]]
    rff, tail = [], []  # type: Tuple[List[float], List[float]]
    for i in range(n):
        f = frames[i % len(frames)]
        ms, inst = pipe.whole_frame(f)
        whole.append(ms)
        ks.append(len(inst))
        for name, v in inst.timings.items():
            stages.setdefault(name, []).append(v)
        # what no stage timer covers (grey/16-bit -> 8-bit mapping, Python glue): per frame
        stages.setdefault("unattributed", []).append(ms - sum(inst.timings.values()))
        if split:
            a, b = pipe.rff_and_tail(f)
            rff.append(a)
            tail.append(b)
    stage_ms = {STAGE_NAMES.get(k, k): statistics.median(v) for k, v in stages.items()}
    if split:
        stage_ms["rff_kernel"] = statistics.median(rff)
        stage_ms["tail_graph"] = statistics.median(tail)
    return {"latency": summary(whole), "stages": stage_ms, "instances_seen": sorted(set(ks)),
            "stage_samples": {k: summary(v) for k, v in stages.items()}}
