#!/usr/bin/env bash
# Builds fassst_rt with the CPU ROI kernels' plain-loop path, the one aarch64
# (Jetson) runs, on this x86-64 machine (FASSST_ROI_PORTABLE) and runs the
# kernel tests against that build. The installed package is not touched: the
# wheel is unpacked into build/portable-pkg and put first on PYTHONPATH.
#
#   bash tools/test_portable_kernels.sh            # uses .venv/bin/python
#   PYTHON=/path/to/python bash tools/test_portable_kernels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
wheels=build/portable-wheel
pkg=build/portable-pkg
rm -rf "$wheels" "$pkg"
"$py" -m pip wheel --quiet --no-deps -w "$wheels" \
  -Ccmake.define.FASSST_WITH_CUDA=OFF -Ccmake.define.CMAKE_CXX_FLAGS=-DFASSST_ROI_PORTABLE \
  -Cbuild-dir=build/portable-build .
"$py" -m zipfile -e "$wheels"/fassst_rt-*.whl "$pkg"
# The build directory keeps the unstripped module: the plain-loop copy of the
# roi_fuse task must be there and the x86-64 (AVX2) copy absent, or this
# tested nothing new.
symbols="$(nm -C build/portable-build/_C*.so)"
if ! grep -q "fuse_task_base" <<<"$symbols" || grep -q "fuse_task_avx2" <<<"$symbols"; then
  echo "test_portable_kernels: build/portable-build/_C*.so is not the plain-loop build" \
       "(FASSST_ROI_PORTABLE did not reach the compiler?)" >&2
  exit 1
fi
PYTHONPATH="$PWD/$pkg" "$py" -P -m pytest -q -p no:cacheprovider tests/test_roi_kernels.py
