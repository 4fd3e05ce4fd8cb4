"""Writes the shape-only ONNX graphs of the paper's architecture that
benchmarks/fps.py and benchmarks/roofline.py count for the device ESTIMATE,
so that the estimate needs neither PyTorch nor a trained model:

    python benchmarks/paper_graphs.py          # needs PyTorch (the train extra)

For each input size (416: the paper's COCO model; 768: its CityScapes model)
a random-weight FASSST with fassst_rt.train's ModelConfig defaults (the
paper's architecture as rebuilt here: MobileNetV2 1.0, network head depth 5,
S = 6, M = 128, S1 = 28) is exported by the project's own export, then every
weight's values are dropped and only its shape kept (fassst_rt.flops reads
shapes only). The files are a few hundred kB instead of tens of MB; they can
be counted, not run.
"""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "graphs")
SIZES = (416, 768)


def shape_only_path(size, out_dir=OUT_DIR):
    """The frame graph's path; the tail graph is beside it (NAME.tail.onnx)."""
    return os.path.join(out_dir, "paper_{}.shape.onnx".format(size))


def strip_weights(src, dst):
    """Copies an ONNX graph keeping every initializer's name, type and dims but none of its
    values (nor the metadata_props' tail sha256, which no longer matches anything)."""
    import onnx

    proto = onnx.load(src)
    for t in proto.graph.initializer:
        if t.data_type != onnx.TensorProto.FLOAT:
            continue  # small integer tensors (shapes, axes) keep their values
        t.ClearField("raw_data")
        del t.float_data[:]
    proto.producer_name = "fassst_rt benchmarks/paper_graphs.py (shape-only: weights have no values)"
    from fassst_rt.atomic import atomic_path

    with atomic_path(dst) as temporary:
        onnx.save(proto, temporary)


def main(argv=None):
    from fassst_rt.model_files import tail_onnx_path

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default=OUT_DIR)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="fassst_paper_graphs_")
    for size in [int(s) for s in args.sizes.split(",")]:
        full = os.path.join(tmp, "paper_{}.onnx".format(size))
        subprocess.check_call([sys.executable, os.path.join(HERE, "fps.py"), "--_build", "paper", str(size), "0",
                               full], cwd=tmp)
        frame = shape_only_path(size, args.out_dir)
        strip_weights(tail_onnx_path(full), tail_onnx_path(frame))  # the tail first, as exports do
        strip_weights(full, frame)
        print("wrote {} (+ .tail.onnx): {:.0f} kB".format(
            frame, (os.path.getsize(frame) + os.path.getsize(tail_onnx_path(frame))) / 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
