"""The development set-up tells the truth: one version everywhere, a stub of
_C that names what the built module has, and a clear error when a source tree
without its compiled core is imported."""

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fassst_rt
from fassst_rt import _C

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_c_stub  # noqa: E402


def _pyproject_version():
    """[project] version of pyproject.toml, read with a TOML parser where there is one."""
    text = (ROOT / "pyproject.toml").read_text()
    try:
        import tomllib  # Python >= 3.11
    except ImportError:
        project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S).group(1)
        return re.search(r"^version\s*=\s*\"([^\"]+)\"", project, re.M).group(1)
    return tomllib.loads(text)["project"]["version"]


# ---------------------------------------------------------------- one version

def test_python_reports_the_pyproject_version():
    from importlib.metadata import version
    expected = _pyproject_version()
    assert fassst_rt.__version__ == expected
    # the installed metadata too (a stale editable install after a version bump fails here: reinstall)
    assert version("fassst_rt") == expected, "reinstall: bash tools/setup.sh --dev"
    assert "__version__" in fassst_rt.__all__


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not on PATH")
def test_cmake_reads_the_pyproject_version(tmp_path):
    """A plain CMake configure (the C++ API's build) takes its version from
    pyproject.toml: PROJECT_VERSION and the string fassst::version() returns."""
    hook = tmp_path / "report_version.cmake"
    hook.write_text('file(WRITE "${CMAKE_BINARY_DIR}/version.json" '
                    '"{\\"project\\": \\"${PROJECT_VERSION}\\", \\"full\\": \\"${FASSST_VERSION_FULL}\\"}")\n')
    proc = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(tmp_path / "build"), "-DFASSST_WITH_CUDA=OFF",
                           "-DFASSST_BUILD_CPP_API=OFF", "-DFASSST_BUILD_TESTS=OFF",
                           "-DCMAKE_PROJECT_INCLUDE={}".format(hook)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    versions = json.loads((tmp_path / "build" / "version.json").read_text())
    expected = _pyproject_version()
    assert versions["full"] == expected
    assert versions["project"] == re.match(r"[0-9]+(\.[0-9]+)*", expected).group(0)


def test_the_c_api_library_reports_the_pyproject_version():
    """fassst_version() of the C API library that CI builds in build/cpp (.ci/run)."""
    libs = sorted((ROOT / "build" / "cpp").glob("libfassst_rt.so*"))
    if not libs:
        pytest.skip("build/cpp has no libfassst_rt (cmake -S . -B build/cpp -DFASSST_BUILD_CPP_API=ON, .ci/run)")
    lib = ctypes.CDLL(str(libs[0]))
    lib.fassst_version.restype = ctypes.c_char_p
    reported = lib.fassst_version().decode()
    if reported != _pyproject_version() and libs[0].stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
        pytest.skip("build/cpp/{} is older than pyproject.toml: rebuild it".format(libs[0].name))
    assert reported == _pyproject_version()


# ---------------------------------------------------------------- the stub of _C

def test_the_stub_names_what_the_built_module_has():
    common, cuda_only, _ = make_c_stub.stub_sections(make_c_stub.STUB.read_text())
    built = make_c_stub.module_names(make_c_stub.describe(_C))
    if _C.with_cuda:
        expected = dict(common, **cuda_only)
    else:
        expected = common
        assert not set(cuda_only) & set(built), "names of every build listed as CUDA-only"
    assert built == expected, (
        "fassst_rt/_C.pyi and the built fassst_rt._C disagree:\n  only in the module: {}\n  only in the stub: {}\n"
        "  members that differ: {}\nregenerate: .venv/bin/python tools/make_c_stub.py".format(
            sorted(set(built) - set(expected)), sorted(set(expected) - set(built)),
            {n: sorted(set(built[n]) ^ set(expected[n])) for n in set(built) & set(expected)
             if built[n] != expected[n]}))


def test_the_stub_is_the_one_the_package_ships_and_parses():
    assert make_c_stub.STUB == ROOT / "fassst_rt" / "_C.pyi"
    common, cuda_only, _ = make_c_stub.stub_sections(make_c_stub.STUB.read_text())
    # the stub types a function's parameters: a generator that lost them would write bare names
    assert "letterbox" in common and "KernelOutputBuffer" in cuda_only
    assert re.search(r"def letterbox\(\s*image: numpy", make_c_stub.STUB.read_text())


# ---------------------------------------------------------------- a source tree without _C

def _copy_sources(tmp_path):
    tree = tmp_path / "checkout"
    shutil.copytree(str(ROOT / "fassst_rt"), str(tree / "fassst_rt"),
                    ignore=shutil.ignore_patterns("_C.*", "__pycache__"))
    shutil.copy(str(ROOT / "pyproject.toml"), str(tree / "pyproject.toml"))
    return tree


def _import_in(tree):
    # -S: no site-packages, so that neither an installed fassst_rt nor an editable
    # install's import hook can stand in for the tree (the error comes before NumPy).
    return subprocess.run([sys.executable, "-S", "-c", "import fassst_rt"], cwd=str(tree),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def test_a_source_tree_without_its_core_says_what_to_do(tmp_path):
    tree = _copy_sources(tmp_path)
    proc = _import_in(tree)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: fassst_rt was imported from the source tree {}".format(tree / "fassst_rt"))
    assert "bash tools/setup.sh --dev" in last and "circular import" not in last


def test_a_core_that_does_not_load_is_named(tmp_path):
    from importlib.machinery import EXTENSION_SUFFIXES
    tree = _copy_sources(tmp_path)
    broken = tree / "fassst_rt" / ("_C" + EXTENSION_SUFFIXES[0])
    broken.write_bytes(b"not an ELF file")
    proc = _import_in(tree)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: fassst_rt's compiled core {} did not load".format(broken)), last


def test_a_core_built_for_another_python_is_named(tmp_path):
    tree = _copy_sources(tmp_path)
    (tree / "fassst_rt" / "_C.cpython-30-elsewhere.so").write_bytes(b"")  # no Python loads this suffix
    proc = _import_in(tree)
    last = proc.stderr.strip().splitlines()[-1]
    assert "has a compiled core for another Python only (_C.cpython-30-elsewhere.so;" in last, last


def test_an_editable_install_serves_this_checkout():
    """Where the installed fassst_rt is the editable one (tools/setup.sh --dev),
    the package and _C under test are this checkout's, whatever the directory."""
    from importlib.metadata import distribution
    direct_url = distribution("fassst_rt").read_text("direct_url.json")
    if not direct_url or not json.loads(direct_url).get("dir_info", {}).get("editable"):
        pytest.skip("fassst_rt is not an editable install here")
    if Path(json.loads(direct_url)["url"].replace("file://", "")).resolve() != ROOT:
        pytest.skip("the editable install is of another checkout")
    assert Path(fassst_rt.__file__) == ROOT / "fassst_rt" / "__init__.py"
    for cwd in (ROOT, ROOT / "tests", Path("/")):
        out = subprocess.run([sys.executable, "-c", "import fassst_rt, fassst_rt._C as c; "
                              "print(fassst_rt.__file__); print(c.__file__)"],
                             cwd=str(cwd), stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
        package, core = out.split()
        assert Path(package) == ROOT / "fassst_rt" / "__init__.py"
        assert Path(core) == Path(_C.__file__), "a subprocess got another _C than this process"
        assert ROOT in Path(core).parents, core
