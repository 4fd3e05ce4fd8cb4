"""Segments an image or a video with a FASSST model and writes an overlay and
the instances as JSON: the Python twin of segment_image.cpp (same steps, same
JSON), for comparing the two runtimes.

    python examples/cpp/segment_image.py MODEL.onnx INPUT [-o|--overlay OUT] [--json OUT.json]

A .y4m video gives JSON lines (one object per frame: the image schema plus
"frame"), then {"frames": N, "median_frame_ms": M}; -o writes the annotated
video as .y4m. The y4m reader/writer here is a small NumPy one with the same
BT.601 conversion as examples/cpp/video_io.cpp, not OpenCV's: OpenCV's
VideoCapture (FFmpeg/swscale) does read .y4m, but rounds limited-range luma
down (1 level low on about a third of the values), so its frames, and then
instances, would differ slightly from the C++ app's.
"""

import argparse
import json
import statistics
import sys
import time

import cv2
import numpy as np

from fassst_rt import Segmenter

KR, KB = 0.299, 0.114  # BT.601
KG = 1 - KR - KB


def read_y4m(path):
    """(header fields, iterator of BGR uint8 frames) of a 4:2:0 or mono y4m."""
    f = open(path, "rb")
    line = f.readline()
    fields = line.split()
    if not line.endswith(b"\n") or not fields or fields[0] != b"YUV4MPEG2":
        raise ValueError("{}: not a YUV4MPEG2 stream: got {!r}".format(path, line[:40]))
    tags = {t[:1].decode(): t[1:].decode() for t in fields[1:]}
    w, h = int(tags["W"]), int(tags["H"])
    chroma = tags.get("C", "420jpeg")
    if chroma not in ("420", "420jpeg", "420paldv", "420mpeg2", "mono") or tags.get("I", "p") != "p":
        raise ValueError("{}: only progressive 8-bit 4:2:0 or mono y4m, got C{} I{}".format(
            path, chroma, tags.get("I", "p")))
    full = b"XCOLORRANGE=FULL" in fields
    cw, ch = (w + 1) // 2, (h + 1) // 2
    size = w * h + (0 if chroma == "mono" else 2 * cw * ch)

    def frames():
        with f:
            while True:
                head = f.readline()
                if not head:
                    return
                if not head.startswith(b"FRAME"):
                    raise ValueError("{}: expected a FRAME header, got {!r}".format(path, head[:40]))
                raw = np.frombuffer(f.read(size), np.uint8)
                if raw.size != size:
                    raise ValueError("{}: truncated frame".format(path))
                y = raw[:w * h].reshape(h, w).astype(np.float64)
                if chroma == "mono":
                    u = v = np.full((h, w), 128.0)
                else:  # nearest chroma upsampling, as the C++ reader
                    u = raw[w * h:w * h + cw * ch].reshape(ch, cw).repeat(2, 0).repeat(2, 1)[:h, :w]
                    v = raw[w * h + cw * ch:].reshape(ch, cw).repeat(2, 0).repeat(2, 1)[:h, :w]
                ys, cs, off = (1.0, 1.0, 0) if full else (255 / 219, 255 / 224, 16)
                yy, cb, cr = ys * (y - off), cs * (u - 128.0), cs * (v - 128.0)
                bgr = np.stack([yy + 2 * (1 - KB) * cb,
                                yy - 2 * (1 - KB) * KB / KG * cb - 2 * (1 - KR) * KR / KG * cr,
                                yy + 2 * (1 - KR) * cr], axis=-1)
                yield np.clip(np.floor(bgr + 0.5), 0, 255).astype(np.uint8)

    return {"width": w, "height": h, "fps": tags["F"], "full": full}, frames()


def write_y4m(path, info, frames):
    """BGR uint8 frames -> 4:2:0 y4m (chroma: mean of each 2x2 block)."""
    w, h, full = info["width"], info["height"], info["full"]
    with open(path, "wb") as f:
        f.write("YUV4MPEG2 W{} H{} F{} Ip A1:1 C420jpeg XCOLORRANGE={}\n".format(
            w, h, info["fps"], "FULL" if full else "LIMITED").encode())
        for bgr in frames:
            b, g, r = [bgr[:, :, i].astype(np.float64) for i in range(3)]
            luma = KR * r + KG * g + KB * b
            cb, cr = (b - luma) / (2 * (1 - KB)), (r - luma) / (2 * (1 - KR))
            if not full:
                luma, cb, cr = 16 + luma * 219 / 255, cb * 224 / 255, cr * 224 / 255
            planes = [luma]
            for c in (cb + 128, cr + 128):
                c = np.pad(c, ((0, h % 2), (0, w % 2)), mode="edge")
                planes.append(c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).mean(axis=(1, 3)))
            f.write(b"FRAME\n" + b"".join(np.clip(np.floor(p + 0.5), 0, 255).astype(np.uint8).tobytes()
                                          for p in planes))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("image")
    parser.add_argument("-o", "--overlay", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    # 1. the model (tiled as its metadata says)
    with Segmenter(args.model, num_threads=args.threads) as segmenter:
        if args.image.lower().endswith(".y4m"):
            return run_video(segmenter, args)
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


def run_video(segmenter, args) -> int:
    """Steps 2-4 per frame, as segment_image.cpp's run_video."""
    try:
        info, frames = read_y4m(args.image)
    except (OSError, ValueError, KeyError) as e:
        print("segment_image.py: error: {}".format(e), file=sys.stderr)
        return 1
    out = open(args.json, "w") if args.json else sys.stdout
    ms, overlays = [], []
    for index, frame in enumerate(frames):
        t0 = time.perf_counter()
        inst = segmenter.run(frame)
        ms.append((time.perf_counter() - t0) * 1000)
        print("segment_image.py: frame {}: {} instances, {:.3f} ms".format(index, len(inst), ms[-1]),
              file=sys.stderr)
        out.write('{"frame": %d, ' % index + inst.to_json()[1:] + "\n")
        if args.overlay:
            overlays.append(inst.plot(frame))
    out.write(json.dumps({"frames": len(ms), "median_frame_ms": statistics.median(ms) if ms else 0.0}) + "\n")
    if out is not sys.stdout:
        out.close()
    if args.overlay:
        write_y4m(args.overlay, info, overlays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
