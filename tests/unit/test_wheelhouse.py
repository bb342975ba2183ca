"""The offline bundle's builder: the committed lock, the exact pip commands, refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fmw.deploy.bundle import (
    DEFAULT_LOCK,
    LOCK_COMMAND,
    Target,
    bundle_commands,
    check_lock,
    check_source,
    lock_pins,
    missing_from_lock,
    unhashed_lines,
)
from fmw.errors import DeployError

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / DEFAULT_LOCK


def test_the_committed_lock_pins_every_dependency_of_pyproject():
    missing = missing_from_lock(ROOT / "pyproject.toml", LOCK)
    assert missing == [], f"requirements/windows-py311.lock is stale; run: {LOCK_COMMAND}"


def test_every_requirement_of_the_committed_lock_has_a_hash():
    assert unhashed_lines(LOCK.read_text(encoding="utf-8")) == []


def test_the_committed_lock_is_for_windows_and_cpython_311():
    pins = lock_pins(LOCK.read_text(encoding="utf-8"))
    assert "tzdata" in pins  # required on Windows only (sys_platform == 'win32')
    assert "--python-platform x86_64-pc-windows-msvc --python-version 3.11" in LOCK.read_text()


def test_the_download_fetches_exactly_the_locked_wheels_for_the_server():
    commands = bundle_commands(
        Path("src"), Path("out/wheelhouse"), Path("my.lock"), Target(), python="py"
    )
    assert commands == [
        ["py", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", "out/wheelhouse", "src"],
        [
            "py",
            "-m",
            "pip",
            "download",
            "--only-binary=:all:",
            "--platform",
            "win_amd64",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--require-hashes",
            "--no-deps",
            "-r",
            "my.lock",
            "-d",
            "out/wheelhouse",
        ],
    ]


def test_without_a_lock_only_our_wheel_is_built():
    commands = bundle_commands(
        Path("src"), Path("w"), None, Target(), python="py", build_isolation=False
    )
    assert commands == [
        ["py", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", "w", "--no-build-isolation", "src"]
    ]


def test_a_lock_missing_a_dependency_is_refused_with_the_command_that_fixes_it(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "fmw"\ndependencies = ["typer>=0.15", "psycopg[binary]>=3.2", '
        "\"tzdata; sys_platform == 'win32'\"]\n"
    )
    lock = tmp_path / "x.lock"
    lock.write_text("typer==0.29.2 \\\n    --hash=sha256:" + "a" * 64 + "\n")
    assert missing_from_lock(tmp_path / "pyproject.toml", lock) == ["psycopg", "tzdata"]
    with pytest.raises(DeployError, match="is stale: it lacks psycopg, tzdata") as refused:
        check_lock(tmp_path, lock)
    assert LOCK_COMMAND in str(refused.value)


def test_a_lock_line_without_a_hash_is_refused(tmp_path: Path):
    lock = tmp_path / "x.lock"
    lock.write_text(
        "# comment\nrich==15.0.0\ntyper==0.29.2 \\\n    --hash=sha256:" + "a" * 64 + "\n"
    )
    with pytest.raises(DeployError, match=re.escape("no --hash for rich==15.0.0")):
        check_lock(tmp_path, lock)


def test_a_folder_that_is_not_an_fmw_checkout_is_refused(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    with pytest.raises(DeployError, match=re.escape("pyproject.toml is 'other''s, not fmw's")):
        check_source(tmp_path)


def test_this_checkout_has_every_file_the_bundle_carries():
    check_source(ROOT)
