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
# An editable install (tools/setup.sh --dev) puts an import hook ahead of
# PYTHONPATH that would serve the checkout's own fassst_rt: drop it, and make
# sure the unpacked wheel is what the tests get.
PYTHONPATH="$PWD/$pkg" "$py" -P - <<'EOF'
import os
import sys

sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__name__.startswith("ScikitBuild")]
from fassst_rt import _C  # noqa: E402

pkg = os.path.join(os.environ["PYTHONPATH"], "")
if not os.path.abspath(_C.__file__).startswith(pkg):
    sys.exit("test_portable_kernels: fassst_rt._C comes from {}, not from the portable build in {}".format(
        _C.__file__, pkg))
import pytest  # noqa: E402

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "tests/test_roi_kernels.py"]))
EOF
