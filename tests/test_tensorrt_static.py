"""Static check of the TensorRT code (TensorRT cannot be installed where the
tests run): mypy --strict against the tensorrt-stubs package (TensorRT 10.13's
Python API), through tools/typecheck_trt.py; and Python 3.8 syntax (JetPack 5)
for the same modules."""

import ast
import glob
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import typecheck_trt  # noqa: E402


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.skip("mypy is not installed (pip install 'fassst_rt[typecheck]')")
    try:
        return typecheck_trt.prepare_stubs(str(tmp_path_factory.mktemp("stubs") / "tensorrt-stubs"))
    except typecheck_trt.StubsMissing as exc:
        pytest.skip(str(exc))


def test_tensorrt_modules_pass_mypy_against_the_stubs(stubs):
    result = typecheck_trt.run_mypy(stubs)
    assert result.returncode == 0, "mypy found errors:\n" + result.stdout + result.stderr


def test_the_stubs_catch_a_wrong_tensorrt_call(stubs, tmp_path):
    # Without this control a broken stub setup (tensorrt seen as Any) would
    # pass everything: these are API calls TensorRT 10 removed or never had.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import tensorrt as trt\n"
        "def f(context: trt.IExecutionContext, engine: trt.ICudaEngine) -> None:\n"
        "    context.execute_async_v2([], 0)\n"
        "    engine.get_binding_index('images')\n")
    result = typecheck_trt.run_mypy(stubs, [str(probe)])
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'has no attribute "execute_async_v2"' in result.stdout
    assert 'has no attribute "get_binding_index"' in result.stdout


@pytest.mark.parametrize("module", typecheck_trt.MODULES + ["tools/typecheck_trt.py"])
def test_python_38_syntax(module):
    with open(os.path.join(ROOT, module), encoding="utf-8") as f:
        source = f.read()
    # feature_version rejects syntax newer than 3.8 (match, except*, ...);
    # runtime-only features such as list[int] are caught by running the
    # no-GPU tests under Python 3.8 in CI.
    ast.parse(source, module, feature_version=(3, 8))


def _python38():
    """A working Python 3.8 (on PATH or under pyenv), as .ci/run finds one."""
    candidates = [shutil.which("python3.8")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8.*/bin/python3.8")))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 8)"],
                                        capture_output=True).returncode == 0:
            return candidate
    return None


def test_modules_compile_under_python_38(tmp_path):
    python38 = _python38()
    if python38 is None:
        pytest.skip("no working Python 3.8 on PATH or under ~/.pyenv")
    # .pyc files go to a scratch folder, not into the source tree
    r = subprocess.run([python38, "-c", "import py_compile, sys\n"
                        "for i, f in enumerate(sys.argv[2:]):\n"
                        "    py_compile.compile(f, cfile=sys.argv[1] + '/%d.pyc' % i, doraise=True)",
                        str(tmp_path)] + [os.path.join(ROOT, m) for m in typecheck_trt.MODULES],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
