"""Log retention: rotated service logs older than N days go; live logs and anything else stay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fmw.services.logs import DAY, prune_logs, prune_service_logs
from fmw.settings import Settings

NOW = 1_750_000_000.0


def log(folder: Path, name: str, age_days: float) -> Path:
    path = folder / name
    path.write_text("line\n", encoding="utf-8")
    os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
    return path


def test_rotated_logs_older_than_the_retention_are_deleted(tmp_path: Path):
    old_nssm = log(tmp_path, "FMW-Dashboard-20250101T000000.123.log", 31)
    old_rotate = log(tmp_path, "fmw-scheduler.log.3.gz", 45)
    old_dated = log(tmp_path, "fmw-nginx.log-20250101.gz", 40)
    report = prune_logs(tmp_path, 30, now=NOW)
    assert sorted(report.deleted) == sorted([old_nssm, old_rotate, old_dated])
    assert not old_nssm.exists() and not old_rotate.exists() and not old_dated.exists()


def test_rotated_logs_within_the_retention_are_kept(tmp_path: Path):
    recent = log(tmp_path, "FMW-Scheduler-20250601T101010.000.log", 29.9)
    report = prune_logs(tmp_path, 30, now=NOW)
    assert report.deleted == () and report.kept == 1
    assert recent.exists()


@pytest.mark.parametrize(
    "name",
    [
        "FMW-Dashboard.log",  # the live log a service holds open
        "FMW-Dashboard-2.log",  # a second dashboard's live log
        "notes.txt",
        "backup-20250101T000000.123.dump",  # rotated-looking, but not a log
        "FMW-Scheduler-2025.log",
    ],
)
def test_live_logs_and_other_files_are_never_deleted(tmp_path: Path, name: str):
    path = log(tmp_path, name, 400)
    assert prune_logs(tmp_path, 30, now=NOW).deleted == ()
    assert path.exists()


def test_subfolders_and_symlinks_are_left_alone(tmp_path: Path):
    inner = tmp_path / "archive"
    inner.mkdir()
    nested = log(inner, "FMW-Dashboard-20240101T000000.000.log", 400)
    target = log(tmp_path, "keep.txt", 400)
    link = tmp_path / "FMW-Nginx-20240101T000000.000.log"
    link.symlink_to(target)
    assert prune_logs(tmp_path, 30, now=NOW).deleted == ()
    assert nested.exists() and link.is_symlink() and target.exists()


def test_a_missing_folder_has_nothing_to_prune(tmp_path: Path):
    report = prune_logs(tmp_path / "never-created", 30, now=NOW)
    assert (report.deleted, report.kept, report.failed) == ((), 0, ())


def test_retention_must_be_at_least_a_day(tmp_path: Path):
    with pytest.raises(ValueError, match="days must be at least 1, not 0"):
        prune_logs(tmp_path, 0)


def test_service_logs_use_the_configured_folder_and_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "service-logs"
    folder.mkdir()
    gone = log(folder, "FMW-Scheduler-20250101T000000.000.log", 8)
    stays = log(folder, "FMW-Scheduler-20250601T000000.000.log", 6)
    settings = Settings(
        base_dir=tmp_path, service={"log_dir": "service-logs", "log_retention_days": 7}
    )
    report = prune_service_logs(settings, now=NOW)
    assert report.deleted == (gone,)
    assert stays.exists()
