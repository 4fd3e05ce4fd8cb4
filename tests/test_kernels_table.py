"""benchmarks/kernels_table.py: docs/kernels.md's results table is the
script's summary of the stored runs, and the summary of runs with known
times is the right one."""

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))
try:
    import kernels_table  # noqa: E402
finally:
    sys.path.pop(0)


def test_the_docs_table_is_made_from_the_stored_runs():
    _, in_doc, _ = kernels_table.split_doc(kernels_table.DOC.read_text())
    assert in_doc == kernels_table.table(kernels_table.load_runs()), \
        "run `python benchmarks/kernels_table.py --write`"


def result(label, k, fused, ort_quiet, ort_spinning, floor):
    return {"label": label, "channels": 128, "map_sizes": [52, 26, 13], "output_size": 28, "num_rois": k,
            "runs": 60,
            "median_ms": {"fused (ours)": fused, "onnxruntime, spinning off": ort_quiet,
                          "onnxruntime, spinning on": ort_spinning, "write floor": floor},
            "onnxruntime_compared": ("onnxruntime, spinning off" if ort_quiet <= ort_spinning
                                     else "onnxruntime, spinning on")}


def write_runs(directory, runs):
    for number, results in runs.items():
        doc = {"conditions": {"threads": 2, "python": "3.8.10", "numpy": "1.24.4", "onnxruntime": "1.16.3"},
               "results": results}
        (directory / "kernels_run{}.json".format(number)).write_text(json.dumps(doc))


def rows(text):
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| shapes")]


def test_summary_of_known_runs(tmp_path):
    # K = 8: fused 1, 2, 4 ms; ONNX Runtime at its faster setting 12, 18, 20
    # (the third run's faster setting is the spinning one); floor 0.5, 0.5, 1.
    write_runs(tmp_path, {
        1: [result("", 8, 1.0, 12.0, 13.0, 0.5), result("m.onnx", 8, 0.1, 1.0, 2.0, 0.02)],
        2: [result("", 8, 2.0, 18.0, 30.0, 0.5), result("m.onnx", 8, 0.1, 1.0, 2.0, 0.02)],
        10: [result("", 8, 4.0, 25.0, 20.0, 1.0), result("m.onnx", 8, 0.1, 1.0, 2.0, 0.02)],
    })
    runs = kernels_table.load_runs(tmp_path)
    assert [n for n, _ in runs] == [1, 2, 10]  # by number, not by name
    text = kernels_table.table(runs)
    assert "N = 1-2,10" in text and "Python 3.8.10" in text
    issue, model = rows(text)
    cells = [c.strip() for c in issue.strip("|").split("|")]
    assert cells[:3] == ["M = 128, maps 52/26/13, S = 28", "8", "3"]
    assert cells[3] == "2.00 (1.00-4.00)"  # fused ms
    assert cells[4] == "18.0 (12.0-20.0)"  # the faster setting of each run
    assert cells[5] == "0.50 (0.50-1.00)"
    assert cells[6] == "9.0x (5.0-12.0x)"  # 12, 9, 5
    assert cells[7] == "1 of 3"
    assert cells[8] == "4.00 (2.00-4.00)"  # 2, 4, 4
    assert cells[9] == "1 of 3"
    model_cells = [c.strip() for c in model.strip("|").split("|")]
    assert model_cells[0].startswith("m.onnx (") and model_cells[7] == "-" and model_cells[9] == "-"


def test_write_replaces_only_the_table_and_check_sees_a_stale_one(tmp_path):
    write_runs(tmp_path, {1: [result("", 36, 2.0, 30.0, 31.0, 1.0)]})
    doc = tmp_path / "doc.md"
    doc.write_text("before\n{}\nstale\n{}\nafter\n".format(kernels_table.BEGIN, kernels_table.END))
    args = ["--results", str(tmp_path), "--doc", str(doc)]
    assert kernels_table.main(args + ["--check"]) == 1
    assert kernels_table.main(args + ["--write"]) == 0
    text = doc.read_text()
    assert text.startswith("before\n" + kernels_table.BEGIN + "\n") and text.endswith(kernels_table.END + "\nafter\n")
    assert "stale" not in text and "15.0x (15.0-15.0x)" in text
    assert kernels_table.main(args + ["--check"]) == 0


def test_a_document_without_the_markers_is_refused(tmp_path):
    write_runs(tmp_path, {1: [result("", 36, 2.0, 30.0, 31.0, 1.0)]})
    doc = tmp_path / "doc.md"
    doc.write_text("no table here\n")
    with pytest.raises(ValueError, match="kernels_table: begin"):
        kernels_table.main(["--results", str(tmp_path), "--doc", str(doc), "--write"])


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no kernels_run"):
        kernels_table.load_runs(tmp_path)
