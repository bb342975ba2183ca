"""Settings: one TOML file, environment overrides, paths relative to the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmw.errors import SettingsError
from fmw.settings import load_settings


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "conf" / "fmw.toml"
    path.parent.mkdir()
    path.write_text(
        'var_dir = "state"\n[sources.team_a]\npath = "exports/*.csv"\npriority = 10\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("FMW_SETTINGS", str(path))
    return path


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert (settings.database_url, settings.sources) == (None, {})
    assert settings.var_path == tmp_path / "var"
    assert settings.snapshot_path == tmp_path / "var" / "snapshots"


def test_fmw_toml_in_the_current_folder_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "fmw.toml").write_text("keep_generations = 7\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_settings().keep_generations == 7


def test_relative_paths_start_at_the_settings_file(settings_file: Path):
    settings = load_settings()
    assert settings.var_path == settings_file.parent / "state"
    assert settings.resolve(settings.sources["team_a"].path) == (
        settings_file.parent / "exports" / "*.csv"
    )


def test_environment_overrides_the_file(settings_file: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FMW_SOURCES__TEAM_A__PRIORITY", "3")
    monkeypatch.setenv("FMW_DATABASE_URL", "postgresql://fmw@localhost/fmw")
    settings = load_settings()
    assert settings.sources["team_a"].priority == 3
    assert settings.sources["team_a"].path == "exports/*.csv"
    assert settings.database_url == "postgresql://fmw@localhost/fmw"


def test_a_bad_value_names_the_file_and_the_key(settings_file: Path):
    settings_file.write_text('[sources.team_a]\npath = "x"\npriority = "high"\n', encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"{settings_file}: setting 'sources.team_a.priority'")


def test_an_unknown_key_is_refused(settings_file: Path):
    settings_file.write_text("keep_generation = 3\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"{settings_file}: unknown setting 'keep_generation' (did you mean 'keep_generations'?); "
        "every setting is in docs/reference/settings.md"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[sources.team_a]\npath = "x"\nprority = 5\n',
            "unknown setting 'sources.team_a.prority' (did you mean 'sources.team_a.priority'?)",
        ),
        ("prority = 5\n", "unknown setting 'prority' (did you mean 'priority' in [sources.NAME]?)"),
        (
            "[scheduler]\ntimezone = 'Asia/Seoul'\n",
            "unknown setting 'scheduler.timezone' (did you mean 'scheduler.time_zone'?)",
        ),
        ("[edge]\nxyz = 1\n", "unknown setting 'edge.xyz' (valid keys here: listen, server_name,"),
    ],
)
def test_an_unknown_key_names_the_closest_valid_one(settings_file: Path, text: str, message: str):
    settings_file.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"{settings_file}: {message}")
    assert "\n" not in str(caught.value), "one line"


def test_fmw_variables_that_are_no_settings_are_not_refused(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FMW_TEST_DATABASE_URL", "postgresql://postgres@localhost/postgres")
    monkeypatch.setenv("FMW_SERVICE_PASSWORD", "secret")
    monkeypatch.setenv("FMW_SOURCES__TEAM_A__MODE", "delta")
    settings = load_settings()
    assert settings.sources["team_a"].mode == "delta"
    assert settings.database_url is None


def test_an_unknown_key_from_the_environment_is_refused_too(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FMW_SOURCES__TEAM_A__PRORITY", "3")
    with pytest.raises(SettingsError, match=r"'sources\.team_a\.prority' \(did you mean"):
        load_settings()


def test_a_missing_settings_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FMW_SETTINGS", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match=r"FMW_SETTINGS=.*nope\.toml: no such settings file"):
        load_settings()


def test_broken_toml_is_a_clear_error(settings_file: Path):
    settings_file.write_text("[sources.team_a\npath = 1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"fmw\.toml: not valid TOML: .*line 1"):
        load_settings()


def test_backups_may_dump_with_their_own_login(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
):
    from fmw.database import backup_url

    monkeypatch.setenv("FMW_DATABASE_URL", "postgresql://fmw_sync@db/fmw")
    monkeypatch.setenv("FMW_BACKUP_DATABASE_URL", "postgresql://fmw_admin@db/fmw")
    assert backup_url(load_settings()) == "postgresql://fmw_admin@db/fmw"
    monkeypatch.delenv("FMW_BACKUP_DATABASE_URL")
    assert backup_url(load_settings()) == "postgresql://fmw_sync@db/fmw", "else the URL in force"
