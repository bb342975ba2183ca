"""Backups that are proven: the restore drill, damaged archives, failed dumps, restore rules."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from fmw.backup import files as backup_files
from fmw.backup.dump import BACKUP_LOCK_KEY, BackupResult, run_backup, verify_backup
from fmw.backup.pg_tools import bundled_bin_dirs
from fmw.backup.restore import restore_backup, table_counts
from fmw.database import with_database
from fmw.demo.sample_data import SAMPLE_SOURCES, write_sample_sources
from fmw.errors import (
    BackupBusyError,
    BackupError,
    BackupVerificationError,
    DatabaseUnavailableError,
    RestoreError,
)
from fmw.loader.landing import load_file
from fmw.settings import Settings, SourceSettings
from fmw.snapshot.generations import MANIFEST_NAME, latest_good_generation, read_generation
from fmw.sync import SyncReport, publish_snapshot, spec_for
from tests.support.postgres import PG15_BIN, Server, drop_database, new_database

_names = itertools.count(1)


@dataclass(frozen=True)
class Loaded:
    """A database with two days of sample data, its settings, and one backup of it."""

    settings: Settings
    url: str
    backup: BackupResult


def _bin_dir_for(server: Server) -> Path:
    """Bundled programs at least as new as the test server (it counts as a configured one)."""
    with psycopg.connect(server.admin_url) as conn:
        major = conn.info.server_version // 10000
    newer = {v: p for v, p in bundled_bin_dirs().items() if v >= major}
    if not newer:
        pytest.skip(f"no bundled pg_dump is as new as the test server's PostgreSQL {major}")
    return newer[min(newer)]


def _target_name() -> str:
    return f"fmw_t_restore_{os.getpid()}_{next(_names)}"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def loaded(pg_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    folder = tmp_path_factory.mktemp("backup")
    url = new_database(pg_server)
    settings = Settings(
        base_dir=folder,
        database_url=url,
        var_dir=folder / "var",
        pg_bin_dir=_bin_dir_for(pg_server),
    )
    with psycopg.connect(url, autocommit=True) as conn:
        for day in (1, 2):
            paths = write_sample_sources(folder / f"day{day}", rows_per_source=60, day=day)
            for name, path in paths.items():
                source = SourceSettings(
                    path=str(path),
                    format=SAMPLE_SOURCES[name]["format"],
                    priority=SAMPLE_SOURCES[name]["priority"],
                )
                load_file(conn, spec_for(name, source), path)
        publish_snapshot(conn, settings, SyncReport(), force=True, progress=lambda _line: None)
    try:
        yield Loaded(settings, url, run_backup(settings))
    finally:
        drop_database(pg_server, url)


@pytest.fixture
def restored(pg_server: Server) -> Iterator[list[str]]:
    """Names of databases a test restores into; every one is dropped afterwards."""
    names: list[str] = []
    yield names
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        leftovers = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s) OR datname LIKE ANY(%s)",
            [names, [f"{n}\\_old\\_%" for n in names]],
        ).fetchall()
    for (name,) in leftovers:
        drop_database(pg_server, with_database(pg_server.admin_url, name))


def _fresh_folder(loaded: Loaded, tmp_path: Path) -> Settings:
    return loaded.settings.model_copy(update={"backup_dir": tmp_path / "backups"})


def _copy_backup(backup: BackupResult, folder: Path) -> Path:
    """The module's backup (archive, sidecar, snapshot zip) copied into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (backup.path, backup.sidecar, backup.snapshot_archive):
        assert path is not None
        shutil.copy2(path, folder / path.name)
    return folder / backup.path.name


def _damage(path: Path, *, fractions: tuple[float, ...]) -> None:
    """Overwrite 8 bytes at each fraction of the file (data blocks sit after the TOC)."""
    data = bytearray(path.read_bytes())
    for fraction in fractions:
        at = int(len(data) * fraction)
        data[at : at + 8] = bytes(b ^ 0xA5 for b in data[at : at + 8])
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- the drill


def test_restore_drill_gives_identical_records_histories_and_row_counts(
    loaded: Loaded, restored: list[str]
):
    target = _target_name()
    restored.append(target)
    result = restore_backup(loaded.settings, loaded.backup.path, into=target)
    assert result.database == target and result.kept_as is None
    assert result.checked.status.is_current
    copy_url = with_database(loaded.url, target)
    queries = {
        "identities": "SELECT identity_hash FROM core.record ORDER BY 1",
        "records": "SELECT * FROM core.record ORDER BY identity_hash",
        "history": "SELECT * FROM core.record_history ORDER BY history_id",
        "batches": "SELECT * FROM ops.batch ORDER BY batch_id",
    }
    with psycopg.connect(loaded.url) as live, psycopg.connect(copy_url) as copy:
        for name, query in queries.items():
            assert copy.execute(query).fetchall() == live.execute(query).fetchall(), name
        live_counts, copy_counts = table_counts(live), table_counts(copy)
    assert copy_counts == live_counts == loaded.backup.tables
    assert live_counts["core.record_history"] > live_counts["core.record"] > 100


def test_the_sidecar_records_what_was_verified_and_when(loaded: Loaded):
    backup = loaded.backup
    doc = json.loads(backup.sidecar.read_text(encoding="utf-8"))
    assert backup.sidecar.name == backup.path.name.replace(".dump", ".json")
    assert doc["format_version"] == 1 and doc["verified"] is True
    assert doc["verification"]["method"] == "restore" and doc["verification"]["ok"] is True
    assert doc["verification"]["schema_current"] is True
    assert doc["sha256"] == _digest(backup.path) and doc["bytes"] == backup.path.stat().st_size
    assert doc["tables"] == backup.tables and doc["tables"]["core.record"] > 100
    assert doc["database"] == conninfo_to_dict(loaded.url)["dbname"]
    assert not list(backup.path.parent.glob("*.partial"))


def test_the_current_snapshot_generation_is_zipped_beside_the_backup(loaded: Loaded):
    backup = loaded.backup
    assert backup.snapshot_archive == backup.path.with_name(
        backup.path.name.replace(".dump", ".snapshot.zip")
    )
    root = loaded.settings.snapshot_path
    generation = read_generation(root, str(backup.snapshot_generation))
    folder = f"generations/{generation.id}"
    with zipfile.ZipFile(backup.snapshot_archive) as archive:
        names = sorted(archive.namelist())
        manifest = archive.read(f"{folder}/{MANIFEST_NAME}")
        unzipped = Path(tempfile.mkdtemp()) / "snapshots"
        archive.extractall(unzipped)
    expected = [f"{folder}/{MANIFEST_NAME}"] + [
        f"objects/{f.object}" if f.object else f"{folder}/{f.name}"
        for f in generation.files.values()
    ]
    assert names == sorted(expected)
    assert manifest == (generation.folder / MANIFEST_NAME).read_bytes()
    restored, problems = latest_good_generation(unzipped)  # every file there, verified
    assert restored.id == generation.id and "CURRENT.json missing" in problems[0]


def test_the_quick_mode_reads_the_whole_archive_and_compares_row_counts(
    loaded: Loaded, tmp_path: Path
):
    result = run_backup(_fresh_folder(loaded, tmp_path), method="read")
    assert result.verification.method == "read"
    assert result.verification.tables == result.tables == loaded.backup.tables
    assert json.loads(result.sidecar.read_text())["verification"]["method"] == "read"


def test_a_backup_without_a_snapshot_says_so_and_still_succeeds(loaded: Loaded, tmp_path: Path):
    settings = _fresh_folder(loaded, tmp_path).model_copy(
        update={"snapshot_dir": tmp_path / "no-snapshots"}
    )
    result = run_backup(settings, method="read")
    assert result.snapshot_archive is None
    assert result.notes == [f"no snapshot generation under {tmp_path / 'no-snapshots'} yet"]
    assert json.loads(result.sidecar.read_text())["snapshot"] is None


# --------------------------------------------------------------------------- damaged archives


@pytest.mark.parametrize("method", ["restore", "read"])
def test_a_truncated_archive_fails_verification(loaded: Loaded, tmp_path: Path, method: str):
    broken = tmp_path / "truncated.dump"
    broken.write_bytes(loaded.backup.path.read_bytes()[: loaded.backup.bytes * 3 // 4])
    with pytest.raises(BackupVerificationError, match="pg_restore failed"):
        verify_backup(loaded.settings, broken, method=method)  # type: ignore[arg-type]  # "restore" or "read"


def test_a_failed_restore_verification_drops_its_scratch_database(
    loaded: Loaded, tmp_path: Path, pg_server: Server
):
    broken = tmp_path / "truncated.dump"
    broken.write_bytes(loaded.backup.path.read_bytes()[: loaded.backup.bytes // 2])
    with pytest.raises(BackupVerificationError):
        verify_backup(loaded.settings, broken, method="restore")
    with psycopg.connect(pg_server.admin_url) as conn:
        scratch = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'fmw\\_verify\\_%'"
        ).fetchall()
    assert scratch == []


@pytest.mark.parametrize("method", ["restore", "read"])
def test_damaged_table_data_fails_verification(loaded: Loaded, tmp_path: Path, method: str):
    broken = tmp_path / "damaged.dump"
    shutil.copy(loaded.backup.path, broken)
    _damage(broken, fractions=(0.85, 0.9, 0.95))
    # Where the bytes land decides how pg_restore fails: inside compressed data it says
    # "could not uncompress data", on a chunk's length it reads past the end, and it has
    # been seen to crash (exit -11, no output). Every way must fail the verification.
    with pytest.raises(BackupVerificationError, match="pg_restore failed") as caught:
        verify_backup(loaded.settings, broken, method=method)  # type: ignore[arg-type]  # "restore" or "read"
    assert str(broken) in str(caught.value)


def test_a_backup_changed_after_it_was_made_fails_and_its_sidecar_says_so(
    loaded: Loaded, tmp_path: Path
):
    archive = _copy_backup(loaded.backup, tmp_path / "copy")
    _damage(archive, fractions=(0.5,))  # anywhere: even where pg_restore would not notice
    with pytest.raises(BackupVerificationError, match="damaged or changed since"):
        verify_backup(loaded.settings, archive, method="read")
    (info,) = backup_files.list_backups(archive.parent)
    assert info.verified is False
    assert "damaged or changed since" in info.verification["detail"]


def test_a_backup_changed_after_it_was_made_is_not_restored(
    loaded: Loaded, tmp_path: Path, restored: list[str], pg_server: Server
):
    archive = _copy_backup(loaded.backup, tmp_path / "copy")
    _damage(archive, fractions=(0.5,))
    target = _target_name()
    restored.append(target)
    with pytest.raises(RestoreError, match="SHA-256 differs"):
        restore_backup(loaded.settings, archive, into=target)
    assert not _database_exists(pg_server, target)


def test_reverifying_an_intact_backup_passes_and_is_recorded(loaded: Loaded, tmp_path: Path):
    archive = _copy_backup(loaded.backup, tmp_path / "copy")
    check = verify_backup(loaded.settings, archive)
    assert (check.method, check.ok, check.tables) == ("restore", True, loaded.backup.tables)
    (info,) = backup_files.list_backups(archive.parent)
    assert info.verified and info.verification["at"] == backup_files.utc_iso(check.at)


# --------------------------------------------------------------------------- failed backups


def _folder_state(folder: Path) -> dict[str, str]:
    return {p.name: _digest(p) for p in sorted(folder.iterdir())}


def test_a_failed_pg_dump_leaves_no_partial_file_and_the_previous_backup_intact(
    loaded: Loaded, tmp_path: Path, pg_server: Server
):
    folder = tmp_path / "backups"
    _copy_backup(loaded.backup, folder)
    before = _folder_state(folder)
    role = f"fmw_t_nopriv_{os.getpid()}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'")
    params = conninfo_to_dict(loaded.url) | {"user": role, "password": f"pw-{role}"}
    settings = loaded.settings.model_copy(
        update={"backup_dir": folder, "database_url": make_conninfo(**params)}
    )
    try:
        with pytest.raises(BackupError) as caught:
            run_backup(settings)
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")
    message = str(caught.value)
    assert message.startswith("pg_dump failed (exit code 1): ")
    assert "permission denied" in message
    assert f"pw-{role}" not in message  # the password is never on the command line
    assert _folder_state(folder) == before


def test_a_wrong_database_name_fails_clearly_and_changes_nothing(loaded: Loaded, tmp_path: Path):
    folder = tmp_path / "backups"
    _copy_backup(loaded.backup, folder)
    before = _folder_state(folder)
    settings = loaded.settings.model_copy(
        update={
            "backup_dir": folder,
            "database_url": with_database(loaded.url, "fmw_no_such_database"),
        }
    )
    with pytest.raises(DatabaseUnavailableError, match='"fmw_no_such_database" does not exist'):
        run_backup(settings)
    assert _folder_state(folder) == before


def test_a_second_backup_of_the_same_database_at_once_is_refused(loaded: Loaded, tmp_path: Path):
    settings = _fresh_folder(loaded, tmp_path)
    with psycopg.connect(loaded.url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [BACKUP_LOCK_KEY])
        with pytest.raises(BackupBusyError):
            run_backup(settings)
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())


def test_a_backup_applies_retention_but_keeps_recent_ones(loaded: Loaded, tmp_path: Path):
    folder = tmp_path / "backups"
    previous = _copy_backup(loaded.backup, folder)
    ancient = "fmw_20200101T000000Z"
    (folder / f"{ancient}.dump").write_bytes(b"old")
    backup_files.write_sidecar(folder, ancient, {"verified": True})
    result = run_backup(loaded.settings.model_copy(update={"backup_dir": folder}), method="read")
    assert result.removed == [ancient]
    assert [b.stem for b in backup_files.list_backups(folder)] == [
        result.path.name.removesuffix(".dump"),
        previous.name.removesuffix(".dump"),
    ]


# --------------------------------------------------------------------------- restore rules


def _database_exists(server: Server, name: str) -> bool:
    with psycopg.connect(server.admin_url) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return found is not None


def test_the_live_database_is_never_restored_over_without_replace(loaded: Loaded):
    live = conninfo_to_dict(loaded.url)["dbname"]
    with pytest.raises(RestoreError, match=f"{live} is the live database"):
        restore_backup(loaded.settings, loaded.backup.path, into=live)


def test_an_existing_non_empty_database_is_refused_and_left_alone(
    loaded: Loaded, pg_server: Server, restored: list[str]
):
    other_url = new_database(pg_server)  # a migrated, empty-of-records database
    other = conninfo_to_dict(other_url)["dbname"]
    restored.append(other)
    with pytest.raises(RestoreError, match=f"database {other} exists and is not empty"):
        restore_backup(loaded.settings, loaded.backup.path, into=other)
    with psycopg.connect(other_url) as conn:
        assert conn.execute("SELECT count(*) FROM core.record").fetchone() == (0,)


def test_replace_keeps_the_replaced_database_under_a_new_name(
    loaded: Loaded, pg_server: Server, restored: list[str]
):
    other_url = new_database(pg_server)
    other = conninfo_to_dict(other_url)["dbname"]
    restored.append(other)
    result = restore_backup(loaded.settings, loaded.backup.path, into=other, replace=True)
    assert result.kept_as is not None and result.kept_as.startswith(f"{other}_old_")
    with psycopg.connect(other_url) as conn:
        count = conn.execute("SELECT count(*) FROM core.record").fetchone()
    assert count == (loaded.backup.tables["core.record"],)
    with psycopg.connect(with_database(other_url, result.kept_as)) as conn:
        assert conn.execute("SELECT count(*) FROM core.record").fetchone() == (0,)


def test_an_existing_empty_database_is_restored_into(
    loaded: Loaded, pg_server: Server, restored: list[str]
):
    empty_url = new_database(pg_server, template="template0")
    empty = conninfo_to_dict(empty_url)["dbname"]
    restored.append(empty)
    result = restore_backup(loaded.settings, loaded.backup.path, into=empty)
    assert result.kept_as is None
    assert result.checked.tables == loaded.backup.tables


def test_row_counts_differing_from_the_sidecar_fail_the_restore_and_leave_nothing(
    loaded: Loaded, tmp_path: Path, pg_server: Server, restored: list[str]
):
    archive = _copy_backup(loaded.backup, tmp_path / "copy")
    sidecar_path = archive.with_suffix(".json")
    doc = json.loads(sidecar_path.read_text())
    doc["tables"]["core.record"] += 1
    sidecar_path.write_text(json.dumps(doc))
    target = _target_name()
    restored.append(target)
    with pytest.raises(RestoreError, match=r"core\.record: \d+ expected, \d+ found"):
        restore_backup(loaded.settings, archive, into=target)
    assert not _database_exists(pg_server, target)
    with psycopg.connect(pg_server.admin_url) as conn:
        staging = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'fmw\\_restoring\\_%'"
        ).fetchall()
    assert staging == []


@pytest.mark.parametrize("name", ["Fmw", "1db", "postgres", "a-b", "x" * 64])
def test_an_unusable_target_name_is_refused_before_anything_happens(loaded: Loaded, name: str):
    with pytest.raises(RestoreError, match="cannot be a restore target"):
        restore_backup(loaded.settings, loaded.backup.path, into=name)


# --------------------------------------------------------------------------- PostgreSQL 15


@pytest.mark.pg15
def test_a_postgresql_15_server_is_backed_up_and_restored_with_its_own_programs(
    pg15_server: Server, tmp_path: Path
):
    url = new_database(pg15_server)
    target = _target_name()
    settings = Settings(base_dir=tmp_path, database_url=url, pg_bin_dir=PG15_BIN)
    try:
        paths = write_sample_sources(tmp_path / "day1", rows_per_source=60)
        name = "platform_team"
        source = SourceSettings(path=str(paths[name]), priority=10)
        with psycopg.connect(url, autocommit=True) as conn:
            load_file(conn, spec_for(name, source), paths[name])
        backup = run_backup(settings)
        assert backup.verification.method == "restore"
        assert backup.tables["core.record"] > 50
        result = restore_backup(settings, backup.path, into=target)
        assert result.checked.tables == backup.tables and result.checked.status.is_current
    finally:
        drop_database(pg15_server, with_database(url, target))
        drop_database(pg15_server, url)
