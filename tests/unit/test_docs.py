"""Docs that tests keep honest: the README's commands are the ones CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from fmw.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    test_command = next(
        line for block in shell_blocks(README) for line in block.splitlines() if "pytest" in line
    )
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_readme_has_the_install_and_demo_command():
    assert any("pip install -e . && .venv/bin/fmw demo" in b for b in shell_blocks(README))


def _command_paths(group: typer.Typer) -> list[str]:
    click_group = typer.main.get_command(group)
    paths = []
    for name, command in click_group.commands.items():  # type: ignore[attr-defined]  # typer's Group has .commands at runtime
        sub = getattr(command, "commands", None)
        paths += [f"{name} {child}" for child in sub] if sub else [name]
    return paths


def test_every_command_is_documented_in_the_readme():
    undocumented = [path for path in _command_paths(app) if f"`fmw {path}" not in README]
    assert undocumented == []
