#!/usr/bin/env bash
# Creates a virtual environment and installs fassst_rt into it.
#
#   bash tools/setup.sh            inference, data fetcher, benchmarks: .[cpu,data,bench]
#   bash tools/setup.sh --dev      + training, export, tests and the TensorRT static check:
#                                  .[cpu,data,bench,train,test,typecheck] + tensorrt-stubs (--no-deps)
#
# Environment: VENV (default .venv), PYTHON (default python3.11, else python3),
# EXTRAS (overrides the extras chosen above),
# FASSST_WITH_CUDA (OFF | AUTO | ON, default AUTO: CUDA kernels when a CUDA
# compiler and its static runtime are found).
set -euo pipefail
cd "$(dirname "$0")/.."

extras="cpu,data,bench"
for arg in "$@"; do
  case "$arg" in
    --dev) extras="cpu,data,bench,train,test,typecheck" ;;
    *) echo "setup.sh: unknown option '$arg' (expected --dev)" >&2; exit 2 ;;
  esac
done

extras="${EXTRAS:-$extras}"
venv="${VENV:-.venv}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$venv/bin/python" ]; then
  echo "setup.sh: creating $venv with $python" >&2
  "$python" -m venv "$venv"
  # a venv's bundled pip can predate --config-settings (Python 3.8's does)
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
pip=("$venv/bin/python" -m pip install --quiet)

if [[ "$extras" == *train* ]]; then
  # The CPU build of PyTorch first: a bare `torch` requirement would pull a
  # multi-GB CUDA wheel. Skipped when a torch is already installed.
  "$venv/bin/python" -c "import torch" 2>/dev/null || "${pip[@]}" "torch==${TORCH_VERSION:-2.13.0}"
fi
echo "setup.sh: building and installing fassst_rt[$extras] (FASSST_WITH_CUDA=${FASSST_WITH_CUDA:-AUTO})" >&2
"${pip[@]}" --config-settings=cmake.define.FASSST_WITH_CUDA="${FASSST_WITH_CUDA:-AUTO}" ".[$extras]"
if [[ "$extras" == *typecheck* ]] && "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  # --no-deps: the stubs declare the real tensorrt as a dependency (NVIDIA's multi-GB
  # wheels); the static check needs the .pyi files only (tools/typecheck_trt.py).
  "${pip[@]}" --no-deps "tensorrt-stubs==10.13.0.35.1"
fi
echo "setup.sh: done; activate with: source $venv/bin/activate" >&2
