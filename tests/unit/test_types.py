"""The type checker: pyright finds no error in the package folders ([tool.pyright]).

It runs pyright from the test environment (`pip install -e ".[test]"` brings it and its
own Node.js) over the folders pyproject.toml names, exactly as `.venv/bin/pyright` does
by hand. It never type-checks tests/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PYRIGHT = PYPROJECT["tool"]["pyright"]


def test_pyright_checks_every_package_folder():
    """A folder installed as part of fmw that pyright skips would go unchecked."""
    package_dir = PYPROJECT["tool"]["setuptools"]["package-dir"]
    package_folders = {Path(folder).parts[0] for folder in package_dir.values()}
    unchecked = sorted(package_folders - set(PYRIGHT["include"]))
    assert unchecked == [], "add them to include in [tool.pyright]"
    assert PYRIGHT["typeCheckingMode"] == "standard"


def test_pyright_finds_no_error():
    """Fix what it reports (narrowing, annotations, overloads) rather than ignoring it; an
    ignore that stays says why on its line, and one no longer needed is itself an error."""
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent))  # pyright(.exe)
    assert pyright, 'run `pip install -e ".[test]"` again: the test extra brings pyright'
    result = subprocess.run(
        [pyright, "--project", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        # no look-up of a newer pyright on PyPI: the run needs no network
        env={**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    assert "0 errors" in result.stdout, tail
