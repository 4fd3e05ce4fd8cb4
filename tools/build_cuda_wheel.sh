#!/usr/bin/env bash
# Builds the fassst_rt wheel with the CUDA kernels using CUDA 11.8 (the
# closest to JetPack 5's 11.4) for sm_61 (GTX 1080 Ti), sm_72 (Xavier NX) and
# sm_87 (Orin) plus sm_87 PTX for newer GPUs, then checks with cuobjdump that
# the three cubins are inside the module.
#
#   bash tools/build_cuda_wheel.sh OUT_DIR [PYTHON]
#
# The toolchain comes from tools/fetch_cuda_toolchain.sh (cached).
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir="${1:?usage: build_cuda_wheel.sh OUT_DIR [PYTHON]}"
python="${2:-python3}"
archs="${FASSST_CUDA_ARCHS:-61-real;72-real;87}"

env_file="$(bash tools/fetch_cuda_toolchain.sh)"
# shellcheck disable=SC1090
source "$env_file"

mkdir -p "$out_dir"
echo "build_cuda_wheel: CUDA $FASSST_CUDA_VERSION, architectures $archs" >&2
"$python" -m pip wheel . --no-deps -w "$out_dir" \
  -Cbuild-dir=build/cuda-"$FASSST_CUDA_VERSION" \
  -Ccmake.define.FASSST_WITH_CUDA=ON \
  -Ccmake.define.CMAKE_CUDA_COMPILER="$FASSST_NVCC" \
  -Ccmake.define.CMAKE_CUDA_HOST_COMPILER="$FASSST_CUDA_HOST_CXX" \
  -Ccmake.define.CUDAToolkit_ROOT="$FASSST_CUDA_ROOT" \
  -Ccmake.define.CMAKE_CUDA_ARCHITECTURES="$archs" >&2

wheel="$(ls -t "$out_dir"/fassst_rt-*.whl | head -n 1)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$python" -m zipfile -e "$wheel" "$tmp"
module="$(ls "$tmp"/fassst_rt/_C*.so)"

elf="$("$FASSST_CUOBJDUMP" --list-elf "$module")"
ptx="$("$FASSST_CUOBJDUMP" --list-ptx "$module")"
echo "$elf" | sed 's/^/  /' >&2
echo "$ptx" | sed 's/^/  /' >&2
missing=0
for sm in sm_61 sm_72 sm_87; do
  if ! grep -q "\.$sm\.cubin" <<<"$elf"; then
    echo "build_cuda_wheel: no $sm cubin in $module" >&2
    missing=1
  fi
done
grep -q "sm_87\.ptx" <<<"$ptx" || { echo "build_cuda_wheel: no sm_87 PTX in $module" >&2; missing=1; }
if ldd "$module" | grep -q libcudart; then
  echo "build_cuda_wheel: $module links libcudart dynamically; it must be static" >&2
  missing=1
fi
[ "$missing" -eq 0 ] || exit 1
echo "build_cuda_wheel: sm_61, sm_72, sm_87 cubins and sm_87 PTX present; cudart static" >&2
echo "$wheel"
