"""Frames per second of a FASSST model, stage by stage, on this machine; and,
for a device this machine is not, a calibrated roofline ESTIMATE.

    python benchmarks/fps.py --device cpu                       # measure here (ONNX Runtime CPU)
    python benchmarks/fps.py --device xavier                    # measure here + ESTIMATE for a Xavier NX
    python benchmarks/fps.py --device cpu --arch cpu_small --size 416 --sweeps --plot fps.png --json out.json
    python benchmarks/fps.py --device cpu --compare yolo11n-seg.onnx     # (benchmarks/peers.py makes one)
    python benchmarks/fps.py --whole-frame --compare yolo11n-seg_704x1120.onnx   # the README frame, each
                                                                # shipped model with its own defaults

Needs the inference install only (`bash tools/setup.sh`: onnxruntime, onnx,
OpenCV); PyTorch (`--dev`) only for --arch and the input-size / S sweeps,
which build random-weight models.

Model: --model PATH, else engines/fassst_default.onnx, else the tiny test model
(tests/data/tiny, random weights); --arch NAME instead times a random-weight
model of a known architecture (paper, cpu_small, tiny; built with PyTorch in a
subprocess, in a temporary directory, at --size). Random weights time like
trained ones once the number of instances is fixed.

Frames: the project's real test frames (`fassst-rt data fetch`), else
scikit-image's photos, else synthetic shapes (--source).

Instances: to measure cost as a function of K with any model (trained or
not), frames run with score threshold 0, NMS off (IoU threshold 1) and
max_instances = K, so that exactly K = min(K, S*S) instances reach the RFF
kernel and the tail. This measures speed, not accuracy.

Timing: warm-up, then N frames through Segmenter.run (masks pasted: the whole
frame, tiling off); per-stage times come from the Segmenter ("unattributed" is
the rest of each frame); the RFF kernel and the tail graph are also timed
alone, interleaved with every frame, on that frame's own pyramid and boxes.
Comparisons run side by side with ours in the same process with the same
threads, in alternating blocks of 4 runs whose first run is discarded (an
ONNX Runtime session's idle threads spin on after a run and would otherwise
be charged to the next session's run): the portable single-graph export (built here from the model
with the same forced K, unless --compare-portable names one), other ONNX
models (--compare, model-only), ONNX Runtime's intra-op spinning on vs off
(--compare-spinning). Medians are reported; p90/p99 show the tail. The machine
may be shared: the load average before and after is recorded.

--whole-frame [IMAGE] is another measurement: one real frame (default the
README's) through each model's own defaults (tiling or one pass, thresholds),
masks pasted, no forced K, beside --compare models timed network-only at
their own input shape (fps_bench/whole_frame.py).

Target: a whole frame at 416 with ~8 instances no slower than YOLO11n-seg's
network alone on the same runtime, size and threads. With --compare
yolo11n-seg.onnx the budget is measured in the same run; otherwise the issue's
figure for the development machine (33 ms) is used and labelled as such.

Devices: 1080ti / xavier / orin on that device measure there (the TensorRT
engine NAME.plan beside the model, built there by `fassst-rt build`; without
one, or without TensorRT, ONNX Runtime, and the output says so);
anywhere else they measure here and print a roofline ESTIMATE for the device
(benchmarks/roofline.py, benchmarks/devices.py), labelled ESTIMATE in the
table and the JSON, with the paper's figures beside it (never calibration).

The parts live in benchmarks/fps_bench/, one module per job (its __init__ lists them).
"""

import os
import sys

# fps_bench/ beside this file, and benchmarks/devices.py, roofline.py, paper_graphs.py
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fps_bench.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(description=__doc__))
