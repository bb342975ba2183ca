"""FMW settings: one TOML file plus ``FMW_*`` environment overrides.

Where the settings file is: ``FMW_SETTINGS`` if set, else ``fmw.toml`` in the
current folder, else none (defaults only). Environment variables win over the
file; nested keys use ``__`` (``FMW_SOURCES__TEAM_A__PATH``). Relative paths
are resolved against the settings file's folder (or the current folder).

This module must never connect to anything or read source data.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fmw.errors import SettingsError

SETTINGS_ENV = "FMW_SETTINGS"
DEFAULT_SETTINGS_NAME = "fmw.toml"


class SourceSettings(BaseModel):
    """One configured source: where its files are and how much it is trusted."""

    path: str = Field(description="A file path or glob; the newest matching file is loaded.")
    format: Literal["auto", "csv", "xlsx"] = "auto"
    encoding: str = Field(
        "auto", description="'auto' detects UTF-8 (with or without BOM) or CP949."
    )
    sheet: str | None = Field(None, description="XLSX sheet name; the first sheet when empty.")
    priority: int = Field(100, description="Lower wins when sources disagree on a record.")
    mode: Literal["full", "delta"] = Field(
        "full",
        description="full: each file lists every record (missing ones are deactivated); "
        "delta: files carry changes only.",
    )


class Settings(BaseSettings):
    """Everything FMW reads from its settings file and environment."""

    model_config = SettingsConfigDict(
        env_prefix="FMW_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="forbid",
    )

    database_url: str | None = Field(
        None, description="PostgreSQL URL; empty starts the embedded server under var_dir."
    )
    var_dir: Path = Field(Path("var"), description="Embedded database, logs and runtime state.")
    snapshot_dir: Path | None = Field(None, description="Snapshot generations; var_dir/snapshots.")
    keep_generations: int = Field(5, ge=2, description="Snapshot generations kept on disk.")
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    base_dir: Path = Field(Path(), exclude=True, description="Folder relative paths start from.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def resolve(self, path: Path | str) -> Path:
        """``path`` made absolute against the settings file's folder."""
        path = Path(path).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def var_path(self) -> Path:
        """Absolute folder for the embedded database and runtime state."""
        return self.resolve(self.var_dir)

    @property
    def snapshot_path(self) -> Path:
        """Absolute folder holding snapshot generations."""
        return self.resolve(self.snapshot_dir or self.var_path / "snapshots")


def settings_file() -> Path | None:
    """The settings file in force, or None when there is none."""
    configured = os.environ.get(SETTINGS_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise SettingsError(f"{SETTINGS_ENV}={configured}: no such settings file")
        return path.resolve()
    default = Path.cwd() / DEFAULT_SETTINGS_NAME
    return default.resolve() if default.is_file() else None


def load_settings() -> Settings:
    """Read the settings file and environment; raise SettingsError naming the bad key."""
    toml_file = settings_file()
    base_dir = toml_file.parent if toml_file else Path.cwd()
    try:
        return Settings(base_dir=base_dir)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{toml_file}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        where = str(toml_file) if toml_file else "environment"
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise SettingsError(f"{where}: setting '{key}': {first['msg']}") from exc
