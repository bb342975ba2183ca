"""The real ``fmw`` command as a subprocess, on a fresh folder with the embedded database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FMW = [sys.executable, "-m", "fmw"]
COMMANDS = [
    ["db", "upgrade"],
    ["db", "status"],
    ["db", "stop"],
    ["load"],
    ["sync"],
    ["export"],
    ["demo"],
    ["batch", "list"],
    ["batch", "show"],
    ["batch", "approve"],
    ["source", "list"],
    ["source", "remove"],
    ["source", "accept-shape"],
    ["vocab", "list"],
    ["vocab", "unknown"],
    ["vocab", "apply"],
    ["vocab", "alias", "add"],
    ["vocab", "alias", "remove"],
    ["vocab", "status", "add"],
    ["vocab", "status", "remove"],
    ["psql"],
]


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMW_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [*FMW, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("demo")
    folder.chmod(0o755)
    result = run(folder, "demo")
    assert result.returncode == 0, result.stderr
    (folder / "demo.out").write_text(result.stdout)
    yield folder
    run(folder, "db", "stop")
    shutil.rmtree(folder / "var", ignore_errors=True)


def test_demo_loads_two_days_and_publishes_a_snapshot(demo_folder: Path):
    out = (demo_folder / "demo.out").read_text()
    assert "creating the embedded PostgreSQL" in out
    assert "FMW demo: " in out and " records (" in out
    pointer = json.loads((demo_folder / "var/snapshots/CURRENT.json").read_text())
    manifest = json.loads(
        (
            demo_folder / "var/snapshots/generations" / pointer["generation"] / "manifest.json"
        ).read_text()
    )
    assert manifest["extra"]["export"]["records"] > 900
    assert "records.feature_code.arrow" in manifest["files"]
    assert manifest["batches"] == [4, 5, 6]


def test_db_status_is_current_after_the_demo(demo_folder: Path):
    result = run(demo_folder, "db", "status")
    assert result.returncode == 0, result.stderr
    assert "000001" in result.stdout and "applied" in result.stdout


def test_batch_show_names_file_row_and_column(demo_folder: Path):
    result = run(demo_folder, "batch", "show", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("batch 2: service_team.csv (processed)")
    assert any(", column 상태: unknown status" in line for line in lines)
    assert any("rejected: no feature_code" in line for line in lines)


def test_a_bad_file_is_one_clear_line_and_exit_1(demo_folder: Path):
    bad = demo_folder / "bad.csv"
    bad.write_bytes(b"Feature Code,Status,owner\nA,on,kim\nB,on,\xff\xfe\n")
    result = run(demo_folder, "load", str(bad), "--source", "adhoc", "--new-source")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "bad.csv, row 3, column owner: bytes not valid" in result.stderr
    listing = run(demo_folder, "batch", "list", "--limit", "1").stdout
    assert "adhoc" in listing and "failed" in listing


def test_sync_without_sources_says_how_to_configure_them(tmp_path: Path):
    result = run(tmp_path, "sync")
    assert result.returncode == 1
    assert "no sources are configured: add [sources.NAME] to fmw.toml" in result.stderr
    assert not (tmp_path / "var").exists(), "nothing was started for a sync that cannot run"


def test_the_demo_leaves_a_settings_file_so_sync_works(demo_folder: Path):
    settings = (demo_folder / "fmw.toml").read_text(encoding="utf-8")
    assert "[sources.platform_team]" in settings and "[sources.ops_team]" in settings
    result = run(demo_folder, "sync")
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 3, "the newest sample files are already loaded"


def test_a_configured_source_syncs_from_the_settings_file(demo_folder: Path):
    source = demo_folder / "exports"
    source.mkdir()
    (source / "team.csv").write_text("기능코드,상태\nNEW-1,적용\n", encoding="utf-8")
    demo_settings = (demo_folder / "fmw.toml").read_text(encoding="utf-8")
    (demo_folder / "fmw.toml").write_text(
        '[sources.adhoc_team]\npath = "exports/*.csv"\npriority = 5\n', encoding="utf-8"
    )
    try:
        result = run(demo_folder, "sync")
    finally:
        (demo_folder / "fmw.toml").write_text(demo_settings, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    assert "processed adhoc_team ← team.csv" in result.stdout
    assert "inserted 1" in result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command: list[str], tmp_path: Path):
    result = run(tmp_path, *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Example: fmw " in " ".join(result.stdout.split())
