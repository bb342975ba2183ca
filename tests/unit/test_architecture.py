"""The house: import boundaries between rooms, every package installed, tests apart.

Each test names the rule it keeps and, when it fails, how to fix the change.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _package_folders() -> dict[str, Path]:
    """Every folder that holds Python code of the fmw package, by the import name it gets."""
    found: dict[str, Path] = {}
    for name, folder in SETUPTOOLS["package-dir"].items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.setdefault(".".join((name, *parts)), init.parent)
    return found


def test_import_contracts_are_kept():
    """[tool.importlinter] in pyproject.toml: cli is imported by nobody else, the snapshot
    path by none of scheduler/services/edge/deploy, and the dashboard reaches no database."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(SETUPTOOLS["packages"])
    on_disk = set(_package_folders())
    assert on_disk - listed == set(), (
        "add these packages to [tool.setuptools] packages in pyproject.toml, "
        "then run `pip install -e .` again"
    )
    assert listed - on_disk == set(), "pyproject.toml lists packages that have no folder"


def test_the_editable_install_holds_every_module_on_disk():
    """Strict editable mode links files at install time: a module added since is missing."""
    stale = []
    for package, folder in _package_folders().items():
        for source in sorted(folder.glob("*.py")):
            name = package if source.stem == "__init__" else f"{package}.{source.stem}"
            spec = importlib.util.find_spec(name)
            origin = Path(spec.origin).resolve() if spec and spec.origin else None
            if origin != source.resolve():
                stale.append(name)
    assert stale == [], f"run `pip install -e .` again: the install lacks {', '.join(stale)}"


def test_no_test_module_imports_another_test_module():
    """Shared helpers live in tests/support/; a test module is never imported."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)} imports {name}"
                for name in names
                if name.startswith("tests") and not name.startswith("tests.support")
            ]
    assert offenders == []
