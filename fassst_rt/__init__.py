"""fassst_rt: an edge inference runtime for real-time instance segmentation (FASSST).

The inference path (this package without its ``train`` subpackage) runs on
Python 3.8 and needs NumPy and the compiled core ``fassst_rt._C`` only.
"""

import os as _os


def _missing_core_message(error):
    """Why ``fassst_rt._C`` did not import and what to do, for the ImportError
    that replaces the bare one (which, raised from inside a submodule, reads as
    a circular import); and whether the original error says more (a file that
    exists but does not load)."""
    from importlib.machinery import EXTENSION_SUFFIXES
    package_dirs = list(__path__)
    where = " or ".join(package_dirs)
    source_root = _os.path.dirname(_os.path.abspath(package_dirs[0]))
    in_checkout = _os.path.isfile(_os.path.join(source_root, "pyproject.toml"))
    rebuild = ("run `bash tools/setup.sh --dev` in {}".format(source_root) if in_checkout
               else "reinstall fassst_rt (pip builds _C from its sources)")
    built = [_os.path.join(d, name) for d in package_dirs if _os.path.isdir(d)
             for name in sorted(_os.listdir(d)) if name.startswith("_C.") and name.endswith((".so", ".pyd"))]
    loadable = [path for path in built if _os.path.basename(path) in ["_C" + s for s in EXTENSION_SUFFIXES]]
    if loadable:
        return "fassst_rt's compiled core {} did not load: {}; {}".format(loadable[0], error, rebuild), True
    if built:
        return ("fassst_rt at {} has a compiled core for another Python only ({}; this one loads {}): "
                "{}".format(where, ", ".join(_os.path.basename(b) for b in built),
                            " or ".join(EXTENSION_SUFFIXES), rebuild)), False
    if not in_checkout:
        return "fassst_rt at {} has no compiled core fassst_rt._C: {}".format(where, rebuild), False
    return ("fassst_rt was imported from the source tree {}, which has no compiled core fassst_rt._C. "
            "For development, run `bash tools/setup.sh --dev` in {} and use its .venv/bin/python (an "
            "editable install: these sources, with _C rebuilt on import when csrc/ changed). To use an "
            "installed copy instead, start Python outside {} (the current directory or PYTHONPATH puts "
            "this source tree ahead of site-packages).".format(where, source_root, source_root)), False


try:
    from . import _C  # noqa: F401
except ImportError as _error:
    _message, _says_more = _missing_core_message(_error)
    raise ImportError(_message, name="fassst_rt._C") from (_error if _says_more else None)


def _version():
    """The installed distribution's version (pyproject.toml's [project]
    version, the one place it is written); for a source tree put on sys.path
    without installing it, the version in its pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, version  # Python >= 3.8
    try:
        return version("fassst_rt")
    except PackageNotFoundError:
        pass
    import re
    pyproject = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))), "pyproject.toml")
    try:
        with open(pyproject, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return "0+unknown"
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    found = project and re.search(r"^version\s*=\s*\"([^\"]+)\"", project.group(1), re.M)
    return found.group(1) if found else "0+unknown"


def __getattr__(name):
    # Computed on first use: importlib.metadata costs milliseconds that every
    # `fassst-rt` start would otherwise pay.
    if name == "__version__":
        value = _version()
        globals()["__version__"] = value
        return value
    raise AttributeError("module 'fassst_rt' has no attribute {!r}".format(name))


from .results import Instances  # noqa: E402
from .segmenter import Segmenter  # noqa: E402

__all__ = ["Segmenter", "Instances", "__version__"]
