"""The environment for a subprocess that must import the fassst_rt under test
(a module of its own: both tests/conftest.py and tests/train/conftest.py are
importable as `conftest`, so helpers there are found by luck of order)."""

import os


def subprocess_env():
    """os.environ with the folder holding the imported package first on
    PYTHONPATH: the checkout of an editable install, or the site-packages of
    an installed wheel (whose checkout has no compiled core)."""
    import fassst_rt
    parent = os.path.dirname(os.path.dirname(os.path.abspath(fassst_rt.__file__)))
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (parent, os.environ.get("PYTHONPATH")) if p))
