"""The results table of docs/kernels.md, made from the stored kernel benchmark
runs (benchmarks/results/kernels_run*.json, written by benchmarks/kernels.py).

    python benchmarks/kernels_table.py            # print the table
    python benchmarks/kernels_table.py --write    # put it into docs/kernels.md
    python benchmarks/kernels_table.py --check    # exit 1 if docs/kernels.md's differs

One row per case (shapes and K) of the runs: for each variant, the median over
runs of each run's median time, with the range over runs in brackets; the
same for the two ratios (fused vs ONNX Runtime at its faster setting, fused /
write floor), and in how many runs each target (10x, 3x; the issue's, set
for its shapes, so not given for a model's) was met. The table
sits in docs/kernels.md between two marker comments; --write replaces what is
between them and nothing else.

To add a run: `python benchmarks/kernels.py --runs 60 --json
benchmarks/results/kernels_runN.json` (N the next number), then
`python benchmarks/kernels_table.py --write`.
"""

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "kernels.md"
BEGIN = "<!-- kernels_table: begin (python benchmarks/kernels_table.py --write; do not edit by hand) -->"
END = "<!-- kernels_table: end -->"
FUSED = "fused (ours)"
FLOOR = "write floor"
SPEEDUP_TARGET = 10.0
FLOOR_TARGET = 3.0


def run_number(path):
    m = re.fullmatch(r"kernels_run(\d+)\.json", Path(path).name)
    if m is None:
        raise ValueError("{}: expected a name kernels_run<N>.json".format(path))
    return int(m.group(1))


def load_runs(directory=RESULTS):
    """[(run number, parsed JSON)] of directory/kernels_run*.json, by number."""
    paths = sorted(Path(directory).glob("kernels_run*.json"), key=run_number)
    if not paths:
        raise FileNotFoundError("no kernels_run*.json in {} (write one with `python benchmarks/kernels.py "
                                "--json {}/kernels_run1.json`)".format(directory, directory))
    return [(run_number(p), json.loads(p.read_text())) for p in paths]


def case_key(r):
    return (r.get("label", ""), r["channels"], tuple(r["map_sizes"]), r["output_size"], r["num_rois"])


def shapes_text(label, channels, map_sizes, out_size):
    shapes = "M = {}, maps {}, S = {}".format(channels, "/".join(str(s) for s in map_sizes), out_size)
    return "{} ({})".format(label, shapes) if label else shapes


def ms(v):
    return "{:.2f}".format(v) if v < 10 else "{:.1f}".format(v)


def spread(values, fmt, unit=""):
    """'median (low-high)' of a list of numbers."""
    return "{}{u} ({}-{}{u})".format(fmt(statistics.median(values)), fmt(min(values)), fmt(max(values)),
                                     u=unit)


def met(flags, applies):
    """'n of runs' where the target was met, '-' where it does not apply."""
    return "{} of {}".format(sum(flags), len(flags)) if applies else "-"


def number_ranges(numbers):
    """'1-3,5' for [1, 2, 3, 5]."""
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else "{}-{}".format(start, n))
            start = None
    return ",".join(parts)


def conditions_text(runs):
    """What the runs were made with; a field that differs between runs lists each value."""
    def values(get):
        seen = []
        for _, d in runs:
            v = get(d)
            if v not in seen:
                seen.append(v)
        return " / ".join(str(v) for v in seen)

    numbers = [n for n, _ in runs]
    calls = values(lambda d: d["results"][0]["runs"])
    return ("{} runs (`benchmarks/results/kernels_run<N>.json`, N = {}), {} timed calls per variant each, "
            "{} threads, Python {}, NumPy {}, ONNX Runtime {}. Each cell: the median over runs of each "
            "run's median, the range over runs in brackets.").format(
                len(runs), number_ranges(numbers), calls,
                values(lambda d: d["conditions"]["threads"]), values(lambda d: d["conditions"]["python"]),
                values(lambda d: d["conditions"]["numpy"]), values(lambda d: d["conditions"]["onnxruntime"]))


def table(runs):
    """The markdown table (caption line, blank line, table) of `runs`, as load_runs returns them."""
    cases = {}
    for _, d in runs:
        for r in d["results"]:
            cases.setdefault(case_key(r), []).append(r)
    lines = [conditions_text(runs), "",
             "| shapes | K | runs | fused ms | ONNX Runtime ms (faster setting) | write floor ms "
             "| fused vs ONNX Runtime | >= 10x in | fused / floor | <= 3x in |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (label, channels, map_sizes, out_size, k), rs in cases.items():
        fused = [r["median_ms"][FUSED] for r in rs]
        ort = [r["median_ms"][r["onnxruntime_compared"]] for r in rs]
        floor = [r["median_ms"][FLOOR] for r in rs]
        speedup = [o / f for o, f in zip(ort, fused)]
        to_floor = [f / w for f, w in zip(fused, floor)]
        issue_shapes = not label  # the targets are the issue's, for its shapes
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            shapes_text(label, channels, map_sizes, out_size), k, len(rs), spread(fused, ms), spread(ort, ms),
            spread(floor, ms), spread(speedup, "{:.1f}".format, "x"),
            met([s >= SPEEDUP_TARGET for s in speedup], issue_shapes), spread(to_floor, "{:.2f}".format),
            met([t <= FLOOR_TARGET for t in to_floor], issue_shapes)))
    return "\n".join(lines) + "\n"


def split_doc(text, doc=DOC):
    """(before, table, after) of a document holding the two markers."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise ValueError("{}: needs the lines\n{}\n{}\naround the results table".format(doc, BEGIN, END))
    head = begin + len(BEGIN) + 1
    return text[:head], text[head:end], text[end:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="replace the table in the document")
    action.add_argument("--check", action="store_true", help="exit 1 if the document's table differs")
    parser.add_argument("--results", type=Path, default=RESULTS, help="directory of kernels_run*.json")
    parser.add_argument("--doc", type=Path, default=DOC, help="the document holding the markers")
    args = parser.parse_args(argv)

    made = table(load_runs(args.results))
    if not (args.write or args.check):
        sys.stdout.write(made)
        return 0
    before, current, after = split_doc(args.doc.read_text(), args.doc)
    if args.check:
        if current != made:
            print("{}: the results table is not what `python benchmarks/kernels_table.py --write` makes "
                  "from {}".format(args.doc, args.results), file=sys.stderr)
            return 1
        return 0
    from fassst_rt.atomic import atomic_write_text

    atomic_write_text(args.doc, before + made + after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
