"""Segments one image with a FASSST model and writes an overlay and the
instances as JSON: the Python twin of segment_image.cpp (same steps, same
JSON), for comparing the two runtimes.

    python examples/cpp/segment_image.py MODEL.onnx IMAGE [--overlay OUT.png] [--json OUT.json]
"""

import argparse
import sys

import cv2

from fassst_rt import Segmenter


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("image")
    parser.add_argument("--overlay", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    # 1. the model (tiled as its metadata says)
    with Segmenter(args.model, num_threads=args.threads) as segmenter:
        # 2. the image, as OpenCV gives it (BGR; 16-bit grey stays 16-bit)
        frame = cv2.imread(args.image, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
        if frame is None:
            print("segment_image.py: error: cannot read {}".format(args.image), file=sys.stderr)
            return 1
        # 3. segment
        inst = segmenter.run(frame)
        print("segment_image.py: {}".format(inst), file=sys.stderr)
        # 4. outputs: JSON of the instances, an overlay
        doc = inst.to_json()
        if args.json:
            with open(args.json, "w") as f:
                f.write(doc + "\n")
        else:
            print(doc)
        if args.overlay:
            frame8 = frame if frame.dtype == "uint8" else (frame >> 8).astype("uint8")
            cv2.imwrite(args.overlay, inst.plot(frame8))
    return 0


if __name__ == "__main__":
    sys.exit(main())
