"""deploy.bat stays a thin, lint-clean CRLF wrapper over a deploy step that needs no venv."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from fmw.deploy.bundle import DEPLOY_FILES

ROOT = Path(__file__).resolve().parents[2]
BAT = ROOT / "deploy.bat"


def test_deploy_bat_has_crlf_line_endings_only():
    data = BAT.read_bytes()
    assert data.endswith(b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n")
    assert b"\r" not in data.replace(b"\r\n", b"")


def test_deploy_bat_is_clean_under_blinter():
    result = subprocess.run(
        [sys.executable, "-m", "blinter", str(BAT), "--fail-on", "error", "--no-config"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_bat_only_finds_python_and_runs_the_deploy_step():
    commands = [
        line
        for line in BAT.read_text(encoding="ascii").splitlines()
        if line.strip() and not line.lower().startswith(("rem", "@echo off", ":"))
    ]
    assert commands == [
        "if defined FMW_DEPLOY_PYTHON goto configured_python",
        'py -3.11 "%~dp0ops\\deploy" %*',
        "exit /b %ERRORLEVEL%",
        '"%FMW_DEPLOY_PYTHON%" "%~dp0ops\\deploy" %*',
        "exit /b %ERRORLEVEL%",
    ]


def test_the_deploy_step_runs_on_a_bare_python_without_site_packages():
    result = subprocess.run(
        [sys.executable, "-S", "-I", str(ROOT / "ops" / "deploy"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--restore-db-on-rollback" in result.stdout


def test_the_bundle_carries_every_module_the_deploy_step_imports():
    carried = {
        ".".join(("fmw", *Path(name).relative_to("ops").with_suffix("").parts)).removesuffix(
            ".__init__"
        ): name
        for name in DEPLOY_FILES
        if name.startswith("ops/")
    }
    for name in sorted(carried.values()):
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.partition(".")[0] == "fmw":
                    assert module in carried, f"{name} imports {module}, not in the bundle"
                else:
                    assert module.partition(".")[0] in sys.stdlib_module_names, (
                        f"{name} imports {module}"
                    )
