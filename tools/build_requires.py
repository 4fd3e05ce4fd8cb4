"""Prints pyproject.toml's [build-system] requires, one per line, so that
tools/setup.sh --dev can install them into the venv without a second copy of
the version bounds. Runs on Python 3.8 (no tomllib): the array is read with a
regular expression and parsed as a Python literal, which a TOML array of
double-quoted strings is."""

import ast
import re
import sys
from pathlib import Path


def build_requires(pyproject_text):
    section = re.search(r"^\[build-system\]\s*$(.*?)(?=^\[|\Z)", pyproject_text, re.M | re.S)
    if section is None:
        raise ValueError("pyproject.toml has no [build-system] table")
    body = re.sub(r"#[^\n\"]*$", "", section.group(1), flags=re.M)  # comments without quotes in them
    array = re.search(r"^requires\s*=\s*(\[.*?\])", body, re.M | re.S)
    if array is None:
        raise ValueError("pyproject.toml's [build-system] has no requires = [...]")
    requires = ast.literal_eval(array.group(1))
    if not (isinstance(requires, list) and all(isinstance(r, str) for r in requires)):
        raise ValueError("[build-system] requires must be a list of strings, got {!r}".format(requires))
    return requires


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    sys.stdout.write("".join(r + "\n" for r in build_requires((root / "pyproject.toml").read_text())))
