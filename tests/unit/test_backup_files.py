"""The backup folder: names from Python's UTC clock, sidecars, listing, retention."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from fmw.backup import files as backup_files
from fmw.backup.files import apply_retention, claim_stem, latest_verified, list_backups
from fmw.settings import Settings

NOW = datetime(2026, 11, 27, 2, 30, 0, tzinfo=UTC)


def make_backup(folder: Path, moment: datetime, *, verified: bool | None) -> str:
    """A backup's files as run_backup leaves them; ``verified=None``: no sidecar at all."""
    stem = f"fmw_{moment.strftime('%Y%m%dT%H%M%SZ')}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.dump").write_bytes(b"PGDMP archive")
    (folder / f"{stem}.snapshot.zip").write_bytes(b"PK zip")
    if verified is not None:
        backup_files.write_sidecar(folder, stem, {"backup": f"{stem}.dump", "verified": verified})
    return stem


def test_a_stem_is_the_utc_time_and_the_partial_file_is_created(tmp_path: Path):
    local = NOW.astimezone(timezone(timedelta(hours=9)))
    stem, partial = claim_stem(tmp_path / "backups", local)
    assert stem == "fmw_20261127T023000Z"
    assert partial == tmp_path / "backups" / "fmw_20261127T023000Z.dump.partial"
    assert partial.is_file() and partial.stat().st_size == 0


def test_a_second_claim_in_the_same_second_gets_the_next_second(tmp_path: Path):
    first, _ = claim_stem(tmp_path, NOW)
    second, _ = claim_stem(tmp_path, NOW + timedelta(milliseconds=300))
    assert (first, second) == ("fmw_20261127T023000Z", "fmw_20261127T023001Z")


def test_a_claim_never_reuses_the_name_of_an_existing_backup(tmp_path: Path):
    make_backup(tmp_path, NOW, verified=True)
    stem, _ = claim_stem(tmp_path, NOW)
    assert stem == "fmw_20261127T023001Z"


def test_backups_are_listed_newest_first_with_their_verification(tmp_path: Path):
    old = make_backup(tmp_path, NOW - timedelta(days=2), verified=True)
    failed = make_backup(tmp_path, NOW - timedelta(days=1), verified=False)
    bare = make_backup(tmp_path, NOW, verified=None)
    (tmp_path / "notes.txt").write_text("not a backup")
    listed = list_backups(tmp_path)
    assert [(b.stem, b.verified) for b in listed] == [(bare, False), (failed, False), (old, True)]
    assert latest_verified(tmp_path).stem == old  # type: ignore[union-attr]  # None fails the test


def test_a_sidecar_without_its_archive_is_not_verified(tmp_path: Path):
    stem = make_backup(tmp_path, NOW, verified=True)
    (tmp_path / f"{stem}.dump").unlink()
    (backup,) = list_backups(tmp_path)
    assert (backup.dump_bytes, backup.verified) == (None, False)


def test_the_sidecar_is_format_1_json(tmp_path: Path):
    stem = make_backup(tmp_path, NOW, verified=True)
    doc = json.loads((tmp_path / f"{stem}.json").read_text(encoding="utf-8"))
    assert doc == {"format_version": 1, "backup": f"{stem}.dump", "verified": True}


def test_an_unreadable_sidecar_counts_as_none(tmp_path: Path):
    stem = make_backup(tmp_path, NOW, verified=None)
    (tmp_path / f"{stem}.json").write_text("{not json", encoding="utf-8")
    (backup,) = list_backups(tmp_path)
    assert (backup.sidecar, backup.verified) == (None, False)


def test_retention_deletes_every_file_of_backups_older_than_the_window(tmp_path: Path):
    old = make_backup(tmp_path, NOW - timedelta(days=20), verified=True)
    recent = make_backup(tmp_path, NOW - timedelta(days=3), verified=True)
    removed = apply_retention(tmp_path, 14, now=NOW)
    assert removed == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{recent}.dump",
        f"{recent}.json",
        f"{recent}.snapshot.zip",
    ]


def test_retention_keeps_the_newest_verified_backup_however_old(tmp_path: Path):
    oldest = make_backup(tmp_path, NOW - timedelta(days=40), verified=True)
    newest_verified = make_backup(tmp_path, NOW - timedelta(days=30), verified=True)
    failed = make_backup(tmp_path, NOW - timedelta(days=20), verified=False)
    unproven = make_backup(tmp_path, NOW - timedelta(days=16), verified=None)
    removed = apply_retention(tmp_path, 14, now=NOW)
    assert sorted(removed) == sorted([oldest, failed, unproven])
    assert [b.stem for b in list_backups(tmp_path)] == [newest_verified]


def test_retention_keeps_recent_unverified_backups(tmp_path: Path):
    failed = make_backup(tmp_path, NOW - timedelta(days=1), verified=False)
    assert apply_retention(tmp_path, 14, now=NOW) == []
    assert [b.stem for b in list_backups(tmp_path)] == [failed]


def test_retention_never_touches_files_it_did_not_name(tmp_path: Path):
    make_backup(tmp_path, NOW - timedelta(days=100), verified=False)
    foreign = [tmp_path / "fmw_manual.dump", tmp_path / "fmw_20200101.dump", tmp_path / "x.json"]
    for path in foreign:
        path.write_text("keep me")
    os.utime(foreign[0], (0, 0))
    apply_retention(tmp_path, 1, now=NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in foreign)


@pytest.mark.parametrize(("age_hours", "kept"), [(13, False), (1, True)])
def test_partial_files_left_by_a_crash_are_swept_once_stale(
    tmp_path: Path, age_hours: int, kept: bool
):
    _, partial = claim_stem(tmp_path, NOW)
    stamp = NOW.timestamp() - age_hours * 3600
    os.utime(partial, (stamp, stamp))
    apply_retention(tmp_path, 14, now=NOW)
    assert partial.exists() is kept


def test_stem_of_recognises_only_backup_files():
    assert backup_files.stem_of(Path("/x/fmw_20261127T023000Z.snapshot.zip")) == (
        "fmw_20261127T023000Z"
    )
    assert backup_files.stem_of(Path("fmw_20261127T023000Z.dump.partial")) == (
        "fmw_20261127T023000Z"
    )
    assert backup_files.stem_of(Path("backup.dump")) is None


def test_backups_default_to_var_backups_and_relative_folders_follow_the_settings_file(
    tmp_path: Path,
):

    assert Settings(base_dir=tmp_path).backup_path == tmp_path / "var" / "backups"
    moved = Settings(base_dir=tmp_path, backup_dir=Path("../elsewhere"), backup_keep_days=3)
    assert moved.backup_path == tmp_path.parent / "elsewhere"
    assert (moved.backup_keep_days, moved.backup_verify) == (3, "restore")
