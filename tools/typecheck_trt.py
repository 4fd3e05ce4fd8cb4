"""Static check of the TensorRT backend and `fassst-rt build` against
TensorRT's Python API, with mypy and the ``tensorrt-stubs`` package (the
10.13 API), on machines where TensorRT itself cannot be installed.

    pip install mypy && pip install --no-deps tensorrt-stubs==10.13.0.35.1
    python tools/typecheck_trt.py            # exit status 0: no errors

``--no-deps``: tensorrt-stubs declares a dependency on the real tensorrt
10.13 (multi-GB CUDA wheels from NVIDIA), which the check does not need.

tensorrt-stubs 10.13.0.35.1 cannot be used as published, so this script
copies it into ``build/tensorrt-stubs`` and repairs the copy:
- it installs ``tensorrt/*.pyi`` without a ``py.typed`` marker, so mypy
  ignores it ("missing library stubs"); the copy is put on MYPYPATH instead;
- four plugin methods name a parameter ``in`` (a keyword: a syntax error),
  renamed ``in_``; ``INetworkDefinition.add_scale_nd`` has a parameter
  without default after defaulted ones, given ``= ...``;
- it imports ``tensorrt_libs``, which has no stubs: an empty stub is added.
Errors inside the stubs themselves are not reported (``ignore_errors`` for
the tensorrt modules); errors in our modules are, with ``--strict``.
Nothing of the repairs touches the API of the classes our code uses.
"""

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUBS_VERSION = "10.13.0.35.1"

# The modules that use TensorRT or cuda-python: all of them are checked.
MODULES = [
    "fassst_rt/tensorrt/__init__.py",
    "fassst_rt/tensorrt/compat.py",
    "fassst_rt/tensorrt/plan.py",
    "fassst_rt/tensorrt/cuda_memory.py",
    "fassst_rt/tensorrt/backend.py",
    "fassst_rt/tensorrt/build.py",
    "fassst_rt/tensorrt/chunks.py",
    "fassst_rt/tensorrt/fp16_graph.py",
]

MYPY_CONFIG = """\
[mypy]
python_version = 3.10
strict = True
follow_imports = silent
# cuda-python ships no type information (Cython modules without .pyi); its
# two imports carry narrow ignores in fassst_rt/tensorrt/cuda_memory.py.

[mypy-tensorrt.*,tensorrt_bindings.*,tensorrt_libs.*]
ignore_errors = True
"""


class StubsMissing(RuntimeError):
    pass


def installed_stubs() -> str:
    """The site-packages folder holding tensorrt-stubs' files."""
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8 has no importlib.metadata
        raise StubsMissing("importlib.metadata is missing (Python < 3.8)") from None
    try:
        dist = metadata.distribution("tensorrt-stubs")
    except metadata.PackageNotFoundError:
        raise StubsMissing("tensorrt-stubs is not installed: pip install --no-deps tensorrt-stubs=={}"
                           .format(STUBS_VERSION)) from None
    if dist.version != STUBS_VERSION:
        # The repairs below are written against this release; another one may
        # need other repairs (or none): say so instead of checking against it blindly.
        raise StubsMissing("tensorrt-stubs {} is installed; this check is written for {} "
                           "(pip install --no-deps tensorrt-stubs=={})".format(dist.version, STUBS_VERSION,
                                                                             STUBS_VERSION))
    return str(dist.locate_file(""))


def prepare_stubs(dest: str) -> str:
    """Copies the stubs to ``dest`` and repairs them (see the module docstring)."""
    site = installed_stubs()
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    for package in ("tensorrt", "tensorrt_bindings"):
        src = os.path.join(site, package)
        if not os.path.isfile(os.path.join(src, "__init__.pyi")):
            raise StubsMissing("{}: tensorrt-stubs' {}/__init__.pyi is missing".format(site, package))
        shutil.copytree(src, os.path.join(dest, package),
                        ignore=lambda folder, names: [n for n in names if not n.endswith(".pyi")])
    path = os.path.join(dest, "tensorrt_bindings", "tensorrt.pyi")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(def \w+\([^)]*?)\bin: ", r"\1in_: ", text)
    text = text.replace("power: Weights = None, channel_axis: int)", "power: Weights = None, channel_axis: int = ...)")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.makedirs(os.path.join(dest, "tensorrt_libs"))
    with open(os.path.join(dest, "tensorrt_libs", "__init__.pyi"), "w", encoding="utf-8") as f:
        f.write("# tensorrt-stubs imports this package; it has no stubs of its own\n")
    for package in ("tensorrt", "tensorrt_bindings"):
        for name in os.listdir(os.path.join(dest, package)):
            stub = os.path.join(dest, package, name)
            with open(stub, encoding="utf-8") as f:
                try:
                    ast.parse(f.read(), stub)
                except SyntaxError as exc:
                    raise StubsMissing("{}: still not valid Python after the repairs ({})".format(stub, exc)) from None
    return dest


def run_mypy(stubs: str, modules: Optional[List[str]] = None) -> "subprocess.CompletedProcess[str]":
    config = os.path.join(stubs, "mypy.ini")
    with open(config, "w", encoding="utf-8") as f:
        f.write(MYPY_CONFIG)
    env = dict(os.environ, MYPYPATH=stubs)
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", config, "--cache-dir",
                           os.path.join(stubs, ".mypy_cache")] + list(modules or MODULES),
                          cwd=ROOT, env=env, capture_output=True, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stubs-dir", default=os.path.join(ROOT, "build", "tensorrt-stubs"),
                        help="where the repaired copy of the stubs goes")
    args = parser.parse_args()
    try:
        stubs = prepare_stubs(args.stubs_dir)
    except StubsMissing as exc:
        print("typecheck_trt: {}".format(exc), file=sys.stderr)
        return 2
    result = run_mypy(stubs)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
