"""FMW settings: one TOML file plus ``FMW_*`` environment overrides.

Where the settings file is: ``FMW_SETTINGS`` if set, else ``fmw.toml`` in the
current folder, else none (defaults only). Environment variables win over the
file; nested keys use ``__`` (``FMW_SOURCES__TEAM_A__PATH``). Relative paths
are resolved against the settings file's folder (or the current folder).

This module must never connect to anything or read source data.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fmw.errors import SettingsError, SourceNameError

SETTINGS_ENV = "FMW_SETTINGS"
DEFAULT_SETTINGS_NAME = "fmw.toml"


SOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
"""A source name: a lowercase ASCII letter, then up to 62 lowercase letters, digits or
underscores (a PostgreSQL identifier's length). It appears in file names, commands,
messages and logs, so nothing that a shell, a path or a terminal reads differently."""


def check_source_name_grammar(name: str) -> str:
    """``name`` if it is a valid source name (``SOURCE_NAME``); SourceNameError otherwise."""
    if SOURCE_NAME.fullmatch(name):
        return name
    shown = repr(name) if len(name) <= 40 else f"{name[:40]!r}… ({len(name):,} characters)"
    raise SourceNameError(
        f"source name {shown} is not allowed: a source name is a lowercase letter, then up "
        "to 62 lowercase letters, digits or underscores (e.g. team_a)"
    )


class SourceSettings(BaseModel):
    """One configured source: where its files are and how much it is trusted."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="A file path or glob; the newest matching file is loaded.")
    format: Literal["auto", "csv", "xlsx"] = Field(
        default="auto",
        description="auto: by the file's extension (.csv, .xlsx …), else by its first bytes; "
        "or csv, xlsx.",
    )
    encoding: str = Field(
        default="auto",
        description="'auto' detects UTF-8 (with or without BOM) or CP949; or name one "
        "(utf-8, cp949 …).",
    )
    sheet: str | None = Field(
        default=None, description="XLSX sheet name; the first sheet when empty."
    )
    priority: int = Field(default=100, description="Lower wins when sources disagree on a record.")
    mode: Literal["full", "delta"] = Field(
        default="full",
        description="full: each file lists every record (missing ones are deactivated); "
        "delta: files carry changes only.",
    )
    display_name: str | None = Field(
        None, description="How the dashboard names this source (default: its name)."
    )


class NginxServiceSettings(BaseModel):
    """How the nginx service is launched (the configuration itself is `fmw nginx render`'s)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Register nginx as an FMW service.")
    executable: str = Field(
        default="",
        description="nginx binary; empty: PREFIX/nginx.exe (Windows), /usr/sbin/nginx (Linux).",
    )
    prefix: str = Field(
        default="nginx", description="nginx -p PREFIX (relative: to the settings file)."
    )
    conf: str = Field(
        default="conf/nginx.conf", description="nginx -c CONF (relative: to the prefix)."
    )


class ServiceSettings(BaseModel):
    """The dashboard, scheduler and nginx as Windows (NSSM) or Linux (systemd) services."""

    model_config = ConfigDict(extra="forbid")

    name_prefix: str = Field(
        default="FMW-", description="Names: PREFIX + Dashboard, Scheduler, Nginx."
    )
    python: str = Field(default="", description="The venv's python(.exe); empty: the running one.")
    working_dir: str = Field(
        default="", description="Working folder; empty: the settings file's folder."
    )
    log_dir: str = Field(default="", description="Service logs; empty: var_dir/logs.")
    postgresql_service: str = Field(
        default="",
        description="PostgreSQL service the scheduler depends on (e.g. postgresql-x64-16, "
        "postgresql); empty for the embedded server.",
    )
    dashboard_ports: list[int] = Field(
        default_factory=lambda: [8501],
        min_length=1,
        description="One dashboard service per port (127.0.0.1 only).",
    )
    restart_delay_seconds: int = Field(
        default=10, ge=0, description="Pause before a crashed app restarts."
    )
    throttle_seconds: int = Field(
        default=30,
        ge=1,
        description="An app that dies sooner than this is restarted with growing pauses.",
    )
    stop_grace_seconds: int = Field(
        default=30, ge=1, description="Time to finish after Ctrl-C / SIGINT before being killed."
    )
    log_rotate_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Rotate a service log when it reaches this size.",
    )
    log_retention_days: int = Field(
        default=30, ge=1, description="Rotated service logs older are deleted."
    )
    account: str = Field(
        default="",
        description="Run as this account; empty: LocalSystem (Windows) / root (Linux); "
        "'virtual' (Windows): NT SERVICE\\<service name>; or .\\user (its password from "
        "password_env, never stored).",
    )
    password_env: str = Field(
        default="FMW_SERVICE_PASSWORD",
        description="Environment variable holding the account's password at install time.",
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for every service."
    )
    environment_file: str = Field(default="", description="Linux only: a systemd EnvironmentFile.")
    linux_logs: Literal["journal", "file"] = Field(
        default="journal", description="Linux: logs to journald or appended to files in log_dir."
    )
    nssm: str = Field(
        default="nssm", description="nssm.exe (2.24-101 or later): a path or a name on PATH."
    )
    nginx: NginxServiceSettings = Field(
        default_factory=NginxServiceSettings,
        description="How the FMW-Nginx service launches nginx (the configuration itself is "
        "fmw nginx render's).",
    )


class SchedulerSettings(BaseModel):
    """`fmw scheduler run`: time zone, catch-up, retries, status file."""

    model_config = ConfigDict(extra="forbid")

    time_zone: str | None = Field(
        default=None,
        description="IANA time zone schedules are read in (e.g. Asia/Seoul); empty: this "
        "computer's time zone.",
    )
    catch_up_grace_seconds: float | None = Field(
        default=None,
        ge=0,
        description="A run missed while the scheduler was down still runs at start-up when at "
        "most this old; empty: half the time to the job's next run (12 h for a daily job); "
        "0: never catch up.",
    )
    sync_attempts: int = Field(default=3, ge=1, description="Tries of a failing fmw:sync job run.")
    retry_delay_seconds: float = Field(
        default=600, ge=0, description="Wait before the 2nd try; doubles each try (10 + 20 min)."
    )
    keep_run_history_days: int = Field(
        default=90, ge=1, description="fmw:prune deletes job runs older than this."
    )
    poll_seconds: float = Field(
        default=10, gt=0, description="How often job changes are picked up."
    )
    heartbeat_seconds: float = Field(
        default=30, gt=0, description="How often the status file is written."
    )
    stop_timeout_seconds: float = Field(
        default=15,
        ge=0,
        description="On stop, a running job may finish this long, then is rolled back.",
    )
    success_rate_days: int = Field(default=30, ge=1, description="Window of the sync success rate.")
    status_file: Path | None = Field(
        default=None,
        description="Status JSON for the dashboard; snapshot_dir/scheduler-status.json.",
    )


class EdgeSettings(BaseModel):
    """nginx in front (`fmw nginx render`): allowlists, listen addresses, limits, logs, reports."""

    model_config = ConfigDict(extra="forbid")

    listen: list[str] = Field(
        default_factory=lambda: ["80"],
        min_length=1,
        description="nginx listen values: PORT, ADDRESS:PORT or [IPv6]:PORT.",
    )
    server_name: str = Field(default="_", description="nginx server_name; _ answers any host name.")
    users: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Users allowlist: name = address or CIDR (or a list of them).",
    )
    admins: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Admins allowlist (the only addresses let into /api/dev/): name = address.",
    )
    local_name: str = Field(
        default="local",
        description="127.0.0.1 and ::1 (this server: health checks) are let in under this "
        "name unless listed; empty: not let in.",
    )
    admin_dir: Path | None = Field(
        default=None, description="Reports served under /api/dev/; var_dir/admin."
    )
    log_dir: Path | None = Field(
        default=None, description="nginx access and denial logs; PREFIX/logs."
    )
    rate_per_second: int = Field(default=20, ge=1, description="Requests per second per address.")
    rate_burst: int = Field(
        default=200, ge=0, description="Requests an address may burst above the rate."
    )
    max_body: str = Field(default="1m", description="client_max_body_size (nginx size: 512k, 1m).")
    session_timeout_seconds: int = Field(
        default=86400, ge=60, description="An idle dashboard WebSocket is closed after this long."
    )
    worker_connections: int = Field(
        default=1024,
        ge=64,
        le=1024,
        description="Connections per worker (Windows nginx: 1024 at most).",
    )
    nginx_user: str = Field(
        default="", description="Linux only: the account nginx's workers run as (nginx `user`)."
    )


class WebSettings(BaseModel):
    """`fmw web`: the admin console and API (/api/dev/) and the read API (/api/v1/)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True, description="Register the app as a service (FMW-Web) and route /api/ to it."
    )
    port: int = Field(default=8510, ge=1, le=65535, description="Port on 127.0.0.1.")
    database_url: str | None = Field(
        default=None,
        description="The URL the app connects with: a login in fmw_console, which executes the "
        "admin functions the console calls and nothing more (e.g. "
        "postgresql://fmw_web@localhost/fmw; password from PGPASSWORD or pgpass). Empty: the "
        "embedded server's fmw_web login, else database_url.",
    )
    threads: int = Field(
        default=8, ge=1, le=64, description="Requests served at once (waitress threads)."
    )
    identity_header: str = Field(
        default="X-FMW-Admin",
        description="The header the proxy (nginx) names the signed-in admin in; REMOTE_USER "
        "for a server that sets it (IIS Windows authentication).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Addresses whose identity header is believed (the proxy in front).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Host names the app answers to (Django ALLOWED_HOSTS); nginx in front "
        "decides who comes in.",
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
        default=None,
        description="PostgreSQL URL (e.g. postgresql://fmw_sync@localhost/fmw); empty starts "
        "the embedded server under var_dir. Never put the password here: use PGPASSWORD or a "
        "pgpass file.",
    )
    var_dir: Path = Field(
        default=Path("var"), description="Embedded database, logs and runtime state."
    )
    snapshot_dir: Path | None = Field(
        default=None, description="Snapshot generations; var_dir/snapshots."
    )
    keep_generations: int = Field(default=5, ge=2, description="Snapshot generations kept on disk.")
    sync_every_hours: float = Field(
        default=24,
        gt=0,
        description="How often a sync publishes a snapshot (the schedule), in hours.",
    )
    freshness_grace_hours: float = Field(
        default=2,
        ge=0,
        description="The dashboard warns when the snapshot is older than sync_every_hours plus "
        "this many hours.",
    )
    backup_dir: Path | None = Field(
        default=None, description="Backups (fmw backup); var_dir/backups."
    )
    backup_database_url: str | None = Field(
        default=None,
        description="The URL fmw backup dumps with: a login that reads every table (the "
        "owner's; password from PGPASSWORD or pgpass). Empty: database_url. The scheduler "
        "runs as the loader, which cannot read everything.",
    )
    backup_keep_days: int = Field(
        default=14,
        ge=1,
        description="Backups older are deleted; the newest verified one always stays.",
    )
    backup_verify: Literal["restore", "read"] = Field(
        default="restore",
        description="restore: each backup is restored into a scratch database (needs CREATEDB); "
        "read: pg_restore reads the whole archive and counts its rows.",
    )
    pg_bin_dir: Path | None = Field(
        default=None,
        description="Folder of pg_dump/pg_restore; default: bundled (embedded) or PATH.",
    )
    sources: dict[str, SourceSettings] = Field(
        default_factory=dict,
        description="The team files fmw sync loads, one [sources.NAME] table each: where its "
        "files are and how much it is trusted.",
    )
    service: ServiceSettings = Field(
        default_factory=ServiceSettings,
        description="The dashboard, scheduler and nginx as Windows (NSSM) or Linux (systemd) "
        "services (fmw service install).",
    )
    scheduler: SchedulerSettings = Field(
        default_factory=SchedulerSettings,
        description="fmw scheduler run: time zone, catch-up, retries, status file.",
    )
    edge: EdgeSettings = Field(
        default_factory=EdgeSettings,
        description="nginx in front (fmw nginx render): allowlists, listen addresses, limits, "
        "logs, reports.",
    )
    web: WebSettings = Field(
        default_factory=WebSettings,
        description="fmw web: the admin console and API (/api/dev/) and the read API (/api/v1/).",
    )
    base_dir: Path = Field(
        default=Path(), exclude=True, description="Folder relative paths start from."
    )

    @field_validator("sources")
    @classmethod
    def _source_names(cls, value: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
        for name in value:
            try:
                check_source_name_grammar(name)
            except SourceNameError as exc:
                raise ValueError(str(exc)) from None
        return value

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

    @property
    def backup_path(self) -> Path:
        """Absolute folder holding backups."""
        return self.resolve(self.backup_dir or self.var_path / "backups")


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
        if first["type"] == "extra_forbidden":
            raise SettingsError(f"{where}: {unknown_key_message(first['loc'])}") from exc
        raise SettingsError(f"{where}: setting '{key}': {first['msg']}") from exc


def unknown_key_message(loc: tuple[int | str, ...]) -> str:
    """Why a key is refused, naming the closest valid key here (or in another table)."""
    key = ".".join(str(part) for part in loc)
    here = ".".join(str(part) for part in loc[:-1])
    valid = _keys_at(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{'.'.join([here, close[0]]) if here else close[0]}'?"
    else:
        elsewhere = {
            name: table for table, names in _tables(Settings, "") for name in names if table
        }
        other = difflib.get_close_matches(str(loc[-1]), list(elsewhere), n=1, cutoff=0.6)
        hint = (
            f"did you mean '{other[0]}' in [{elsewhere[other[0]]}]?"
            if other
            else f"valid keys here: {', '.join(valid)}"
        )
    return f"unknown setting '{key}' ({hint}); every setting is in docs/reference/settings.md"


def _tables(model: type[BaseModel], table: str) -> list[tuple[str, list[str]]]:
    """(TOML table, its keys) for ``model`` and every table inside it (NAME for a name)."""
    found = [(table, [n for n, f in model.model_fields.items() if not f.exclude])]
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        inner = f"{table}.{name}" if table else name
        if typing.get_origin(annotation) is dict:
            annotation, inner = typing.get_args(annotation)[1], f"{inner}.NAME"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _tables(annotation, inner)
    return found


def _keys_at(path: tuple[int | str, ...]) -> list[str]:
    """The setting names valid inside the table at ``path`` (e.g. ('sources', 'team_a'))."""
    model: type[BaseModel] = Settings
    parts = list(path)
    while parts:
        annotation: Any = model.model_fields[str(parts.pop(0))].annotation
        if typing.get_origin(annotation) is dict:  # a table of tables by name: skip the name
            annotation = typing.get_args(annotation)[1]
            if parts:
                parts.pop(0)
        model = annotation
    return [name for name, field in model.model_fields.items() if not field.exclude]
