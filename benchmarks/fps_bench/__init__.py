"""benchmarks/fps.py's parts, one job per module (fps.py is the entry point):

    cli             the command line
    modes           which device is measured, and for which one an ESTIMATE is made
    models          which model is timed; random-weight builds (PyTorch, in a subprocess)
    complexity      parameters, FLOPs and file sizes of the ONNX graphs
    frames          real, photo or synthetic frames
    segmenter_steps the Segmenter's letterbox, normalisation, selection and ROI assembly,
                    step by step: the only place benchmarks/ does pre/post-processing
    stage_timing    a model opened for timing; the whole frame and its stages
    side_by_side    several callables timed in alternating blocks
    spinning        ONNX Runtime's intra-op spinning, as a diagnostic
    comparisons     portable single graph, other ONNX models, spinning on vs off
    sweeps          FPS vs K, input size and S
    whole_frame     --whole-frame: one real frame through each model's own defaults
    target          the speed target's verdict
    estimate        roofline ESTIMATE for a device this machine is not
    conditions      CPU, GPU, Jetson clocks, library versions, load
    memory, stats   resident set size; medians and percentiles
    result          the JSON document
    text_report     the printed table
    plots           FPS vs K and vs input size as a PNG
    run             main: the above, in order
"""

import sys

from .paths import BENCHMARKS_DIR

# benchmarks/devices.py, roofline.py and paper_graphs.py are imported as top-level modules.
if BENCHMARKS_DIR not in sys.path:
    sys.path.append(BENCHMARKS_DIR)
