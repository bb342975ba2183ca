"""``fmw demo``: sample sources for two days, loaded into the embedded database and exported.

It uses only the embedded PostgreSQL, never a configured server, so sample data
cannot end up in a real deployment's database. It must never hold record rules.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from fmw import database, migrations
from fmw.demo.sample_data import SAMPLE_SOURCES, write_sample_sources
from fmw.errors import FmwError
from fmw.settings import DEFAULT_SETTINGS_NAME, Settings, SourceSettings, settings_file
from fmw.sync import SyncReport, run_sync

DAYS = 2


@dataclass
class DemoSummary:
    """What the demo did, and the short text it ends with."""

    reports: list[SyncReport] = field(default_factory=list)
    text: str = ""


def _demo_settings(settings: Settings, paths: dict[str, Path]) -> Settings:
    sources = {
        name: SourceSettings(
            path=str(paths[name]),
            format=SAMPLE_SOURCES[name]["format"],
            priority=SAMPLE_SOURCES[name]["priority"],
            display_name=SAMPLE_SOURCES[name]["display_name"] or None,
        )
        for name in SAMPLE_SOURCES
    }
    return settings.model_copy(update={"sources": sources})


def _summary(conn: psycopg.Connection, settings: Settings) -> str:
    counts = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE has_conflict) "
        "FROM snapshot.current_records"
    ).fetchone()
    by_status = conn.execute(
        "SELECT status, records FROM snapshot.home_summary WHERE dimension = 'total' "
        "ORDER BY records DESC"
    ).fetchall()
    changed = conn.execute("SELECT count(*) FROM snapshot.recent_changes").fetchone()
    issues = conn.execute("SELECT sum(issues), sum(rejected) FROM ops.batch").fetchone()
    assert counts is not None and changed is not None and issues is not None  # aggregates
    total, active, conflicts = counts
    changes = changed[0]
    statuses = ", ".join(f"{status} {count}" for status, count in by_status)
    return (
        f"\n[bold]FMW demo[/bold]: {total:,} records ({active:,} active; {statuses})\n"
        f"  {changes:,} changes since the first load, "
        f"{conflicts:,} records where sources disagree,\n"
        f"  {issues[0] or 0:,} row issues and {issues[1] or 0:,} rejected rows kept for review "
        f"(fmw batch list, fmw batch show N)\n"
        f"  snapshot files: {settings.snapshot_path}"
    )


def run_demo(
    settings: Settings,
    *,
    rows_per_source: int = 400,
    progress: Callable[[str], None] = lambda _line: None,
) -> DemoSummary:
    """Write, load and export two days of sample sources into the embedded database."""
    if os.environ.get(database.URL_ENV) or settings.database_url:
        raise FmwError(
            f"fmw demo only uses the embedded database; unset {database.URL_ENV} "
            "(and database_url in fmw.toml) to run it"
        )
    summary = DemoSummary()
    url = database.database_url(settings, announce=progress)
    paths: dict[str, Path] = {}  # the last day's files
    with database.connect(url, autocommit=True) as conn:
        migrations.upgrade(conn, progress=progress)
        for day in range(1, DAYS + 1):
            folder = settings.var_path / "demo" / f"day{day}"
            paths = write_sample_sources(folder, rows_per_source=rows_per_source, day=day)
            progress(f"day {day}: sample sources written to {folder}")
            day_settings = _demo_settings(settings, paths)
            summary.reports.append(run_sync(conn, day_settings, progress=progress))
        summary.text = _summary(conn, settings)
    if settings_file() is None:
        written = write_demo_settings(Path.cwd() / DEFAULT_SETTINGS_NAME, paths)
        progress(f"wrote {written} with the sample sources: `fmw sync` and the scheduler use it")
    return summary


def write_demo_settings(target: Path, paths: dict[str, Path]) -> Path:
    """A starting fmw.toml whose sources are the demo's newest sample files."""
    lines = [
        "# Written by `fmw demo`: the sample sources. Replace them with your teams' files.",
        "",
    ]
    for name, path in paths.items():
        meta = SAMPLE_SOURCES[name]
        lines += [
            f"[sources.{name}]",
            f"path = {json.dumps(path.resolve().as_posix())}",
            f"format = {json.dumps(meta['format'])}",
            f"priority = {meta['priority']}",
            f"display_name = {json.dumps(meta['display_name'], ensure_ascii=False)}",
            "",
        ]
    target.write_text("\n".join(lines), encoding="utf-8")
    return target
