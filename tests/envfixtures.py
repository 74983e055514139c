"""Fixture projects for prepared environments: a local wheel and a PEP 517 backend in the repository, so
that installing needs no package index (tests use no network)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

WHEEL_TAGS = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
# A build backend of a few lines living in the repository (backend-path): `pip install -e .` needs nothing
# from an index but the project's own dependencies, which come from the local wheel directory.
BACKEND = '''\
"""PEP 517 backend of the fixture project: an editable wheel is a .pth file naming the worktree."""
import base64, hashlib, os, zipfile

DIST = "calc-0.1.dist-info"
METADATA = "Metadata-Version: 2.1\\nName: calc\\nVersion: 0.1\\nRequires-Dist: tinydep\\n"
WHEEL = "Wheel-Version: 1.0\\nGenerator: backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"


def _wheel(directory, files):
    files = {**files, DIST + "/METADATA": METADATA, DIST + "/WHEEL": WHEEL}
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data.encode())}")
    files[DIST + "/RECORD"] = "\\n".join([*record, DIST + "/RECORD,,"]) + "\\n"
    name = "calc-0.1-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {"calc.pth": os.getcwd() + "\\n"})


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {"calc.py": open("calc.py").read()})
'''
PYPROJECT = """\
[project]
name = "calc"
version = "0.1"
dependencies = ["tinydep"]

[build-system]
requires = []
build-backend = "build_backend"
backend-path = ["."]
"""
CALC = "from tinydep import double\n\n\ndef quad(x):\n    return double(x) + x\n"  # the bug: 3x
TEST = """\
import unittest

from calc import quad


class QuadTest(unittest.TestCase):
    def test_quad(self):
        self.assertEqual(quad(3), 12)
"""
PROJECT = {"pyproject.toml": PYPROJECT, "build_backend.py": BACKEND, "calc.py": CALC, "test_calc.py": TEST}


def make_wheel(folder: Path, name: str, version: str, source: str) -> Path:
    """A pure-Python wheel of one package `name` whose __init__ holds `source`."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": source, f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\n"
             f"Version: {version}\n", f"{dist}/WHEEL": WHEEL_TAGS}  # fmt: skip
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def local_index(tmp_path: Path) -> Path:
    """A directory holding the wheel of `tinydep`, the fixture's third-party dependency."""
    return make_wheel(tmp_path / "wheels", "tinydep", "1.0", "def double(x):\n    return 2 * x\n").parent


def offline_pip(wheels: Path) -> dict[str, str]:
    """The daemon's environment for set-ups that install from `wheels` only (shown read-only inside)."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "SANDBOX_READ_ONLY_PATHS": str(wheels)}
