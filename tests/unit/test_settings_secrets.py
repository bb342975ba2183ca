"""fmw.settings_secrets: a password in the settings file is named, never shown; modes checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fmw.settings_secrets import secret_warnings, secrets_in

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX mode bits")


def settings_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "fmw.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_a_url_with_a_password_is_found_by_key_never_by_value():
    doc = {
        "database_url": "postgresql://fmw_loader:s3cret@db/fmw",
        "service": {"environment": {"PGPASSWORD": "s3cret", "TZ": "Asia/Seoul"}},
        "sources": {"a": {"path": "x.csv"}},
    }
    assert secrets_in(doc) == ["database_url", "service.environment.PGPASSWORD"]


@pytest.mark.parametrize(
    "url",
    ["postgresql://fmw_loader@db/fmw", "host=db dbname=fmw user=fmw_loader", "", "not a url ::"],
)
def test_a_url_without_a_password_is_no_secret(url: str):
    assert secrets_in({"database_url": url}) == []


def test_key_value_connection_strings_are_read_too():
    assert secrets_in({"database_url": "host=db dbname=fmw password=s3cret"}) == ["database_url"]


def test_no_secret_means_no_warning(tmp_path: Path):
    path = settings_file(tmp_path, 'database_url = "postgresql://fmw_loader@db/fmw"\n', 0o644)
    assert secret_warnings(path) == []


def test_a_private_file_with_a_secret_is_told_to_move_it(tmp_path: Path):
    path = settings_file(tmp_path, 'database_url = "postgresql://u:s3cret@db/fmw"\n', 0o600)
    warnings = secret_warnings(path)
    assert len(warnings) == 1
    assert "database_url holds a password" in warnings[0] and "PGPASSWORD" in warnings[0]
    assert "s3cret" not in warnings[0]


@pytest.mark.parametrize(
    ("mode", "who"),
    [(0o644, "its group and everyone"), (0o640, "its group"), (0o604, "everyone")],
)
def test_a_file_others_can_read_is_named_with_its_mode(tmp_path: Path, mode: int, who: str):
    path = settings_file(tmp_path, 'database_url = "postgresql://u:s3cret@db/fmw"\n', mode)
    warnings = secret_warnings(path)
    assert warnings[1] == (
        f"{path} is readable by {who} (mode {mode:04o}) and holds a secret: chmod 600 {path}"
    )


def test_on_windows_it_says_what_is_not_checked(tmp_path: Path):
    path = settings_file(tmp_path, 'database_url = "postgresql://u:s3cret@db/fmw"\n', 0o644)
    warnings = secret_warnings(path, windows=True)
    assert len(warnings) == 2
    assert "does not read NTFS permissions" in warnings[1] and "icacls" in warnings[1]


def test_an_unreadable_or_broken_file_is_left_to_the_settings_loader(tmp_path: Path):
    assert secret_warnings(settings_file(tmp_path, "database_url = [unclosed\n")) == []
