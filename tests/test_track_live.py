"""`fassst-rt track` on a live source simulated here: a named pipe (FIFO) fed
with y4m frames made from the real HeLa frames at a fixed rate, read in
latency mode. The outputs must agree with one another and with what was
written: every frame either delivered or counted as dropped, one JSON line
per delivered frame, MOT rows matching the JSON lines, a readable video."""

import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="the CLI reads and writes video with OpenCV")
pytest.importorskip("onnxruntime", reason="the CLI runs ONNX models with onnxruntime")

from support import subprocess_env  # noqa: E402

HEIGHT, WIDTH = 350, 550  # a corner of the 1100 x 700 frames: even sizes for 4:2:0
FPS, FRAMES = 15, 30


def hela_lumas():
    from reference import stored_results as stored
    folder = stored.data_dir()
    paths = [folder / "hela_t{:02d}.png".format(t) for t in range(20)]
    if not all(p.is_file() for p in paths):
        pytest.skip("real data not fetched (fassst-rt data fetch)")
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)[:HEIGHT, :WIDTH].copy() for p in paths]


class PipeWriter(threading.Thread):
    """Writes FRAMES y4m frames into the FIFO, frame i at i / FPS seconds after
    the reader opened it, whether the reader keeps up or not."""

    def __init__(self, fifo, lumas):
        super().__init__(daemon=True)
        self.fifo, self.lumas = fifo, lumas
        self.written = 0
        self.error = None

    def run(self):
        chroma = bytes([128]) * (WIDTH * HEIGHT // 2)
        try:
            with open(self.fifo, "wb", buffering=0) as out:  # blocks until the reader opens the pipe
                out.write("YUV4MPEG2 W{} H{} F{}:1 Ip A1:1 C420jpeg\n".format(WIDTH, HEIGHT, FPS).encode())
                start = time.monotonic()
                for i in range(FRAMES):
                    delay = start + i / FPS - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    out.write(b"FRAME\n" + self.lumas[i % len(self.lumas)].tobytes() + chroma)
                    self.written += 1
        except OSError as exc:  # the reader went away
            self.error = exc

    def unblock(self):
        """Lets a writer still waiting for a reader go (the run failed early)."""
        if self.is_alive():
            try:
                os.close(os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK))
            except OSError:
                pass
        self.join(timeout=10)


def test_track_a_live_fifo_in_latency_mode(tmp_path):
    lumas = hela_lumas()
    fifo = str(tmp_path / "camera.y4m")
    os.mkfifo(fifo)
    out, lines_path, mot_path = tmp_path / "live.mp4", tmp_path / "live.jsonl", tmp_path / "live.mot.txt"
    writer = PipeWriter(fifo, lumas)
    writer.start()
    t_start = time.time()
    try:
        r = subprocess.run([sys.executable, "-m", "fassst_rt.cli", "track", fifo, "--mode", "latency",
                            "-o", str(out), "--jsonl", str(lines_path), "--mot", str(mot_path)],
                           capture_output=True, text=True, env=subprocess_env(), cwd=str(tmp_path), timeout=300)
    finally:
        writer.unblock()
    t_end = time.time()
    print(r.stdout)  # the summary: frames delivered, median latency, frames dropped
    assert r.returncode == 0, r.stderr
    assert writer.error is None and writer.written == FRAMES

    summary = re.search(r"(\d+) frames: (\d+) ok, 0 failed; median latency ([\d.]+) ms; (\d+) frames dropped "
                        r"\(latency mode\)", r.stdout)
    assert summary, r.stdout
    delivered, dropped, latency = int(summary.group(2)), int(summary.group(4)), float(summary.group(3))
    assert delivered + dropped == FRAMES, "every frame written is delivered or counted as dropped"
    assert delivered >= 2 and latency > 0

    records = [json.loads(line) for line in lines_path.read_text().splitlines()]
    assert len(records) == delivered
    indices = [rec["frame"] for rec in records]
    assert indices == sorted(set(indices)) and indices[-1] == FRAMES - 1, "the newest frame is never dropped"
    assert FRAMES - len(indices) == dropped, "the dropped frames are the missing indices"
    stamps = [rec["timestamp"] for rec in records]
    assert stamps == sorted(stamps) and t_start <= stamps[0] and stamps[-1] <= t_end, "live: arrival times"
    assert all(rec["source"] == fifo for rec in records)
    assert sum(len(rec["instances"]) for rec in records) > 0

    # MOT rows: exactly the JSON lines' instances with an id, same frames and boxes
    expected = []
    for rec in records:
        for item in rec["instances"]:
            if item["id"] is not None:
                x1, y1, x2, y2 = item["box"]
                expected.append((rec["frame"] + 1, item["id"], x1, y1, x2 - x1, y2 - y1, item["score"]))
    rows = [line.split(",") for line in mot_path.read_text().splitlines()]
    assert rows and all(len(row) == 10 and row[7:] == ["-1", "-1", "-1"] for row in rows)
    got = [(int(row[0]), int(row[1])) + tuple(float(v) for v in row[2:7]) for row in rows]
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    np.testing.assert_allclose([g[2:] for g in got], [e[2:] for e in expected], atol=0.006)
    assert len({g[1] for g in got}) < len(got), "ids carry over from frame to frame"

    video = cv2.VideoCapture(str(out))
    assert video.isOpened()
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == delivered
    ok, first = video.read()
    assert ok and first.shape == (HEIGHT, WIDTH, 3)
    video.release()
