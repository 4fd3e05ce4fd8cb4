#!/usr/bin/env bash
# Creates a virtual environment and installs fassst_rt into it.
#
#   bash tools/setup.sh            inference, data fetcher, benchmarks: .[cpu,data,bench]
#                                  (a regular install: a copy of the package)
#   bash tools/setup.sh --dev      + training, export, tests and the TensorRT static check:
#                                  .[cpu,data,bench,quantize,train,test,typecheck] + tensorrt-stubs (--no-deps),
#                                  as an editable install: `import fassst_rt` runs this
#                                  checkout's Python files, and the first import in each
#                                  process rebuilds fassst_rt._C from csrc/ when a source
#                                  changed (CMake + Ninja in build/editable/; needs cmake
#                                  on PATH). See docs/development.md.
#
# Environment: VENV (default .venv), PYTHON (default python3.11, else python3),
# EXTRAS (overrides the extras chosen above),
# FASSST_WITH_CUDA (OFF | AUTO | ON, default AUTO: CUDA kernels when a CUDA
# compiler and its static runtime are found).
set -euo pipefail
cd "$(dirname "$0")/.."

extras="cpu,data,bench"
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) extras="cpu,data,bench,quantize,train,test,typecheck"; dev=1 ;;
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
cuda_define="cmake.define.FASSST_WITH_CUDA=${FASSST_WITH_CUDA:-AUTO}"
if [ "$dev" = 1 ]; then
  if ! command -v cmake >/dev/null; then
    echo "setup.sh --dev: cmake is not on PATH; the editable install runs 'cmake --build'" \
         "whenever fassst_rt is imported (install CMake >= 3.18, e.g. your distribution's cmake)" >&2
    exit 1
  fi
  # Rebuilding on import runs CMake against the build requirements in this venv, so
  # they must live here, not in pip's throwaway build environment (--no-build-isolation).
  # editable.verbose=false: a rebuild must not write to the stdout of `fassst-rt`
  # commands (SKBUILD_EDITABLE_VERBOSE=1 shows it).
  requires_text="$("$venv/bin/python" tools/build_requires.py)"
  mapfile -t build_requires <<<"$requires_text"
  "${pip[@]}" "${build_requires[@]}" ninja
  echo "setup.sh: editable install of fassst_rt[$extras] (FASSST_WITH_CUDA=${FASSST_WITH_CUDA:-AUTO}," \
       "build directory build/editable/)" >&2
  "${pip[@]}" --no-build-isolation --config-settings="$cuda_define" \
    --config-settings=editable.rebuild=true --config-settings=editable.verbose=false \
    --config-settings=build-dir="build/editable/{wheel_tag}" \
    --editable ".[$extras]"
else
  echo "setup.sh: building and installing fassst_rt[$extras] (FASSST_WITH_CUDA=${FASSST_WITH_CUDA:-AUTO})" >&2
  "${pip[@]}" --config-settings="$cuda_define" ".[$extras]"
fi
if [[ "$extras" == *typecheck* ]] && "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  # --no-deps: the stubs declare the real tensorrt as a dependency (NVIDIA's multi-GB
  # wheels); the static check needs the .pyi files only (tools/typecheck_trt.py).
  "${pip[@]}" --no-deps "tensorrt-stubs==10.13.0.35.1"
fi
echo "setup.sh: done; activate with: source $venv/bin/activate" >&2
