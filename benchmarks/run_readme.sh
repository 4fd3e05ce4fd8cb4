#!/usr/bin/env bash
# Regenerates every result in benchmarks/README.md (about 10 minutes on 2 cores):
#
#   bash tools/setup.sh --dev && .venv/bin/fassst-rt data fetch      # PyTorch for the random-weight builds
#   .venv/bin/python benchmarks/peers.py --export-only                # optional: YOLO11n-seg at 416 (own venv)
#   bash benchmarks/run_readme.sh                                     # -> benchmarks/results/*.json, *.png
#   .venv/bin/python benchmarks/report.py benchmarks/results/*.json   # the README's tables
#
# Run it on a quiet machine: every number is a median of runs on this CPU, now.
#
# Smoke run (CI: every command below still works; no number means anything):
#   OUT=build/readme-smoke FPS_ARGS="--frames 2 --warmup 1 --sweep-frames 1 --sweep-sizes 128,160" \
#       bash benchmarks/run_readme.sh
# FPS_ARGS comes last on each fps.py line, so it overrides that line's settings.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
out="${OUT:-benchmarks/results}"
read -r -a extra <<< "${FPS_ARGS:-}"
mkdir -p "$out"
yolo="${YOLO_ONNX:-$HOME/.cache/fassst_rt/peers/yolo11n-seg_416.onnx}"
compare=()
if [ -f "$yolo" ]; then compare=(--compare "$yolo"); else echo "run_readme.sh: no $yolo: no YOLO11n-seg comparison" >&2; fi

echo "== 1. the shipped model as shipped (192), real test frames, FPS vs K, spinning on vs off" >&2
"$py" benchmarks/fps.py --device cpu --frames 100 --sweeps --no-build --sweep-frames 30 --ort-spinning on --compare-spinning \
    --plot "$out/shipped_192.png" --json "$out/shipped_192.json" ${extra[@]+"${extra[@]}"}

echo "== 2. the shipped architecture (cpu_small) at 416, K = 8: the target; FPS vs K, input size, S" >&2
"$py" benchmarks/fps.py --device cpu --arch cpu_small --size 416 --instances 8 --frames 100 --sweeps \
    --sweep-sizes 320,416,512,640 --sweep-frames 24 --ort-spinning on --compare-spinning ${compare[@]+"${compare[@]}"} \
    --plot "$out/cpu_small_416.png" --json "$out/cpu_small_416.json" ${extra[@]+"${extra[@]}"}

echo "== 3. 1 and 2 with ONNX Runtime's intra-op spinning off in every session (sweeps too)" >&2
"$py" benchmarks/fps.py --device cpu --frames 100 --sweeps --no-build --sweep-frames 30 --ort-spinning off \
    --plot "$out/shipped_192_spinning_off.png" --json "$out/shipped_192_spinning_off.json" ${extra[@]+"${extra[@]}"}
"$py" benchmarks/fps.py --device cpu --arch cpu_small --size 416 --instances 8 --frames 100 --sweeps \
    --sweep-sizes 320,416,512,640 --sweep-frames 24 --ort-spinning off ${compare[@]+"${compare[@]}"} \
    --plot "$out/cpu_small_416_spinning_off.png" --json "$out/cpu_small_416_spinning_off.json" ${extra[@]+"${extra[@]}"}

echo "== 4. the paper's architecture at 416 here + ESTIMATE for a Jetson Xavier NX and a GTX 1080 Ti" >&2
"$py" benchmarks/fps.py --device xavier --arch paper --size 416 --instances 8 --frames 50 --sweep-frames 24 --ort-spinning on \
    ${compare[@]+"${compare[@]}"} --json "$out/paper_416_xavier.json" ${extra[@]+"${extra[@]}"}
"$py" benchmarks/fps.py --device 1080ti --arch paper --size 416 --instances 8 --frames 20 --sweep-frames 12 --ort-spinning on \
    --json "$out/paper_416_1080ti.json" ${extra[@]+"${extra[@]}"}

echo "== 5. each model in its faster ONNX Runtime setting, side by side: ours spinning off, YOLO11n-seg default (on)" >&2
if [ -f "$yolo" ]; then
  "$py" benchmarks/fps.py --device cpu --arch cpu_small --size 416 --instances 8 --frames 100 --sweep-frames 40 \
      --ort-spinning off --other-spinning default --compare "$yolo" --json "$out/cpu_small_416_vs_yolo_best.json" ${extra[@]+"${extra[@]}"}
fi
