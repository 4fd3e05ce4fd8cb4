"""How much a frame graph's ONNX Runtime CPU run grows the process, per byte
of its input: the factor core/memory_budget.cpp uses for one whole-frame
input of a stride-grid model.

    python tools/frame_graph_memory.py engines/fassst_dense.onnx --height 1056 --width 1728
"""

import argparse
import resource

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("onnx")
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.onnx, o, providers=["CPUExecutionProvider"])
    x = np.zeros((1, 3, args.height, args.width), np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for _ in range(args.runs):
        session.run(None, {"images": x})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("input {:.1f} MiB, peak growth {:.1f} MiB: {:.1f} bytes per input byte".format(
        x.nbytes / 2 ** 20, (peak - before) / 2 ** 20, (peak - before) / x.nbytes))


if __name__ == "__main__":
    main()
