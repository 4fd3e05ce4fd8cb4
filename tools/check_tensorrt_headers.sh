#!/usr/bin/env bash
# Syntax-checks the C++ TensorRT backend (csrc/api/tensorrt_backend.cpp)
# against one TensorRT release's public headers: compiles it with
# -fsyntax-only, nothing is linked or run. A documented manual check
# (docs/tensorrt.md), not part of CI: CI cannot download the headers.
#
#   bash tools/check_tensorrt_headers.sh TENSORRT_INCLUDE_DIR [CUDA_INCLUDE_DIR]
#
# TENSORRT_INCLUDE_DIR holds NvInfer.h: an installed TensorRT's include/, or
# include/ of a release branch of NVIDIA's open-source TensorRT repository,
# e.g. for each of 8.5, 8.6, 10.13, 11.1:
#   git -C TensorRT archive release/10.13 include | tar -x -C /tmp/trt-10.13
#   bash tools/check_tensorrt_headers.sh /tmp/trt-10.13/include
# CUDA_INCLUDE_DIR holds cuda_runtime_api.h (default: $CUDA_HOME/include, then
# the toolkit tools/fetch_cuda_toolchain.sh installs, then /usr/local/cuda).
# Exit status 0: it compiles.
set -euo pipefail
cd "$(dirname "$0")/.."
trt_include="${1:?usage: $0 TENSORRT_INCLUDE_DIR [CUDA_INCLUDE_DIR]}"
if [ ! -f "$trt_include/NvInfer.h" ]; then
  echo "check_tensorrt_headers: $trt_include/NvInfer.h does not exist (give TensorRT's include directory)" >&2
  exit 2
fi
cuda_include="${2:-}"
if [ -z "$cuda_include" ]; then
  for candidate in "${CUDA_HOME:-/nonexistent}/include" "$HOME/.cache/fassst_rt/cuda-11.8/toolkit/include" \
                   /usr/local/cuda/include; do
    if [ -f "$candidate/cuda_runtime_api.h" ]; then cuda_include="$candidate"; break; fi
  done
fi
if [ -z "$cuda_include" ] || [ ! -f "$cuda_include/cuda_runtime_api.h" ]; then
  echo "check_tensorrt_headers: no cuda_runtime_api.h found; pass CUDA's include directory second" >&2
  exit 2
fi
version="$(sed -n 's/^#define \(NV_TENSORRT\|TRT\)_\(MAJOR\|MINOR\|PATCH\)\(_ENTERPRISE\)\? \([0-9]*\).*/\4/p' \
           "$trt_include/NvInferVersion.h" | head -3 | paste -sd. -)"
"${CXX:-g++}" -std=c++17 -fsyntax-only -Wall -Wextra -Werror -Wno-deprecated-declarations \
  -DFASSST_WITH_CUDA -DFASSST_WITH_TENSORRT -DFASSST_RT_BUILDING \
  -isystem "$trt_include" -isystem "$cuda_include" -Icsrc -Icsrc/include \
  csrc/api/tensorrt_backend.cpp
echo "check_tensorrt_headers: csrc/api/tensorrt_backend.cpp compiles against TensorRT ${version:-?} ($trt_include)"
